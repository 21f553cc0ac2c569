import { InvalidEncodingError, NotFoundError } from '@icnet/types'
import { lpStream } from '@libp2p/utils'
import { ARTIFACT_ID_BYTES, FETCH_REQUEST_READ_TIMEOUT_MS, FETCH_RESPONSE_OVERHEAD_BYTES, KIND_NAME_PATTERN, MAX_FETCH_REQUEST_BYTES } from './constants.js'
import { UnknownKindError } from './errors.js'
import { FetchRequest, FetchResponse } from './pb/artifact-gossip.js'
import type { Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** Server side: finds validated artifact bytes to serve (undefined = not held). */
export interface ArtifactSource {
  /** Throws UnknownKindError for kinds that are not registered. */
  lookup(kind: string, idHex: string): Uint8Array | undefined
}

export type ServeOutcome = 'ok' | 'not_found' | 'unknown_kind' | 'bad_request'

/** Protobuf decoding that fails only with InvalidEncodingError, whatever protons-runtime throws. */
function decodeWith<T> (codec: { decode(bytes: Uint8Array | Uint8ArrayList): T }, bytes: Uint8Array | Uint8ArrayList, what: string): T {
  try {
    return codec.decode(bytes)
  } catch (err) {
    throw new InvalidEncodingError(`malformed ${what}`, { cause: err })
  }
}

/**
 * Serves one request on an inbound fetch stream: read one bounded request frame, write
 * one response frame, close. The request must arrive within FETCH_REQUEST_READ_TIMEOUT_MS.
 */
export async function serveFetch (stream: Stream, source: ArtifactSource): Promise<ServeOutcome> {
  const lp = lpStream(stream, { maxDataLength: MAX_FETCH_REQUEST_BYTES })
  const signal = AbortSignal.timeout(FETCH_REQUEST_READ_TIMEOUT_MS)
  let outcome: ServeOutcome
  let response: FetchResponse
  try {
    const req = decodeWith(FetchRequest, await lp.read({ signal }), 'fetch request')
    if (req.id.byteLength !== ARTIFACT_ID_BYTES || !KIND_NAME_PATTERN.test(req.kind)) throw new InvalidEncodingError('bad fetch request')
    const bytes = source.lookup(req.kind, Buffer.from(req.id).toString('hex'))
    if (bytes == null) {
      outcome = 'not_found'
      response = { status: FetchResponse.Status.NOT_FOUND, artifact: new Uint8Array(0) }
    } else {
      outcome = 'ok'
      response = { status: FetchResponse.Status.OK, artifact: bytes as Uint8Array<ArrayBuffer> }
    }
  } catch (err) {
    const name = (err as Error)?.name
    if (err instanceof UnknownKindError) {
      outcome = 'unknown_kind'
      response = { status: FetchResponse.Status.UNKNOWN_KIND, artifact: new Uint8Array(0) }
    } else if (err instanceof InvalidEncodingError || name === 'RangeError' || name === 'InvalidDataLengthError') {
      outcome = 'bad_request'
      response = { status: FetchResponse.Status.BAD_REQUEST, artifact: new Uint8Array(0) }
    } else {
      stream.abort(err as Error)
      throw err
    }
  }
  await lp.write(FetchResponse.encode(response), { signal })
  await stream.close({ signal })
  return outcome
}

/**
 * Client side: asks for one artifact on a fresh stream and returns its bytes, refusing
 * any response longer than `expectedSize` (the advertised size) before reading its body.
 * The caller checks that the bytes hash to the id.
 */
export async function requestArtifact (stream: Stream, req: { kind: string, idHex: string, expectedSize: number }, signal: AbortSignal): Promise<Uint8Array> {
  const lp = lpStream(stream, { maxDataLength: req.expectedSize + FETCH_RESPONSE_OVERHEAD_BYTES })
  try {
    await lp.write(FetchRequest.encode({ id: new Uint8Array(Buffer.from(req.idHex, 'hex')), kind: req.kind }), { signal })
    const res = decodeWith(FetchResponse, await lp.read({ signal }), 'fetch response')
    await stream.close({ signal }).catch(() => {})
    switch (res.status) {
      case FetchResponse.Status.OK: return res.artifact
      case FetchResponse.Status.NOT_FOUND: throw new NotFoundError(`peer does not hold artifact ${req.idHex}`)
      case FetchResponse.Status.UNKNOWN_KIND: throw new UnknownKindError(`peer does not serve kind ${req.kind}`)
      default: throw new InvalidEncodingError('peer refused the request')
    }
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
