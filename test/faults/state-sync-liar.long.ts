import { stateSyncLiarScenario } from './state-sync-liar-scenario.js'

describe('fault scenario: a state-sync peer that lies', function () {
  this.timeout(300_000)

  it('corrupt: the restarted node catches up by state sync all the same, and nothing is lost', async () => {
    await stateSyncLiarScenario('corrupt')
  })
})
