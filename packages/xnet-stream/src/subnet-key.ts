import { principalText, type SubnetId } from '@icnet/types'

/** A subnet id's textual form, as a map key (remembered per id object: see `principalText`). */
export function subnetKey (id: SubnetId): string {
  return principalText(id)
}
