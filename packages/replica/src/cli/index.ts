#!/usr/bin/env node
import '@icnet/types/polyfill'
import { UsageError } from '../errors.js'
import { main } from './commands.js'

main(process.argv.slice(2)).then(code => {
  if (code >= 0) process.exitCode = code
}, err => {
  if (err instanceof UsageError) {
    console.error(`icnet: ${err.message}`)
    process.exitCode = 2
  } else {
    console.error(`icnet: ${err?.name ?? 'Error'}: ${err?.message ?? err}`)
    process.exitCode = 1
  }
})
