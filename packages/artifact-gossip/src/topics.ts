import { principalText, type SubnetId } from '@icnet/types'
import { KIND_NAME_PATTERN, TOPIC_PREFIX } from './constants.js'

/** `/icnet/<subnet id text>/<kind>`: one gossipsub mesh per subnet and kind. */
export function artifactTopic (subnetId: SubnetId | string, kind: string): string {
  const subnet = typeof subnetId === 'string' ? subnetId : principalText(subnetId)
  return `${TOPIC_PREFIX}${subnet}/${kind}`
}

/** Splits an artifact topic into subnet text and kind, or undefined for any other topic. */
export function parseArtifactTopic (topic: string): { subnet: string, kind: string } | undefined {
  if (!topic.startsWith(TOPIC_PREFIX)) return undefined
  const rest = topic.slice(TOPIC_PREFIX.length)
  const slash = rest.indexOf('/')
  if (slash <= 0 || slash !== rest.lastIndexOf('/')) return undefined
  const subnet = rest.slice(0, slash)
  const kind = rest.slice(slash + 1)
  if (!KIND_NAME_PATTERN.test(kind)) return undefined
  return { subnet, kind }
}
