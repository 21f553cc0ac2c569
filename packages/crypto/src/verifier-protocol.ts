/** Messages between BlsVerifierPool and its worker threads (structured clone). */
export interface WireSignatureSet {
  publicKey: Uint8Array
  message: Uint8Array
  signature: Uint8Array
}

export interface WorkerRequest {
  id: number
  sets: WireSignatureSet[]
}

export type WorkerResponse =
  | { id: number, results: boolean[], batchFailed: boolean, error?: undefined }
  | { id: number, error: string, results?: undefined }
