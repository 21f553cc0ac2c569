/** The raw libp2p stream every benchmark measures its protocol against: its protocol id and the writer's backpressure. */
import type { Stream } from '@libp2p/interface'

export const RAW_PROTOCOL = '/icnet/bench/raw/1.0.0'

/** Waits for the stream's 'drain' event (`stream.onDrain()` gives no backpressure after the first drain). */
export async function waitDrain (s: Stream): Promise<void> {
  if (!s.writableNeedsDrain) return
  await new Promise<void>((resolve, reject) => {
    const done = (): void => { s.removeEventListener('drain', ok); s.removeEventListener('close', ko) }
    const ok = (): void => { done(); resolve() }
    const ko = (e: Event): void => { done(); reject((e as unknown as { error?: Error }).error ?? new Error('stream closed')) }
    s.addEventListener('drain', ok)
    s.addEventListener('close', ko)
  })
}
