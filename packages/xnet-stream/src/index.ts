export * from './constants.js'
export * from './errors.js'
export * from './stream.js'
export * from './header-codec.js'
