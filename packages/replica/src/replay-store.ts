import type { ConsensusStore, StoredState } from '@icnet/consensus'

/**
 * A consensus store that makes consensus re-deliver every batch above the
 * state machine's latest checkpoint after a restart: the state in memory was
 * lost, the checkpoint on disk was not, and the finalized blocks above it are
 * still in the consensus store (it only purges below its latest CUP, which is
 * never above the latest checkpoint of a node that wrote one).
 */
export class ReplayFromCheckpointStore implements ConsensusStore {
  private readonly inner: ConsensusStore
  private readonly checkpointHeight: number

  constructor (inner: ConsensusStore, checkpointHeight: number) {
    this.inner = inner
    this.checkpointHeight = checkpointHeight
  }

  async load (): Promise<StoredState> {
    const s = await this.inner.load()
    return { ...s, delivered: Math.min(s.delivered, this.checkpointHeight) }
  }

  putFinalized: ConsensusStore['putFinalized'] = async (e) => this.inner.putFinalized(e)
  getFinalized: ConsensusStore['getFinalized'] = async (h) => this.inner.getFinalized(h)
  putSigned: ConsensusStore['putSigned'] = async (h, r) => this.inner.putSigned(h, r)
  putCup: ConsensusStore['putCup'] = async (h, c) => this.inner.putCup(h, c)
  putDelivered: ConsensusStore['putDelivered'] = async (h) => this.inner.putDelivered(h)
  close: ConsensusStore['close'] = async () => this.inner.close()
}
