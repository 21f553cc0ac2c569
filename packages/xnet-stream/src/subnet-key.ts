import type { SubnetId } from '@icnet/types'

/**
 * A subnet id's textual form, as a map key. `Principal#toText` recomputes a CRC32
 * and a base32 encoding on every call; the pull path looks the source subnet up
 * several times per slice, so the text is remembered per id object.
 */
const texts = new WeakMap<SubnetId, string>()

export function subnetKey (id: SubnetId): string {
  let text = texts.get(id)
  if (text === undefined) {
    text = id.toText()
    texts.set(id, text)
  }
  return text
}
