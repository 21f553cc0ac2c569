import { HttpAgent, type Identity } from '@dfinity/agent'
import { ReferenceNetwork, httpEndpoint, type HttpEndpoint, type HttpEndpointOptions } from '../src/index.js'

export interface Testnet {
  network: ReferenceNetwork
  /** One endpoint per subnet: [root, app]. */
  endpoints: HttpEndpoint[]
  stop: () => Promise<void>
}

export async function startTestnet (options: Partial<Omit<HttpEndpointOptions, 'backend'>> = {}): Promise<Testnet> {
  const network = new ReferenceNetwork({ subnets: 2 })
  const endpoints = network.subnets.map(backend => httpEndpoint({ backend, ...options }))
  await Promise.all(endpoints.map(async e => { await e.start() }))
  return { network, endpoints, stop: async () => { await Promise.all(endpoints.map(async e => { await e.stop() })) } }
}

export async function agentFor (url: string, identity?: Identity): Promise<HttpAgent> {
  return await HttpAgent.create({ host: url, shouldFetchRootKey: true, retryTimes: 0, ...(identity === undefined ? {} : { identity }) })
}
