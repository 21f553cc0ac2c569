/** The `icnet canister` lines of the usage text (apart from the command, which loads the agent only when it runs). */
export const CANISTER_USAGE = `  canister install --subnet S FILE.wasm [--dir D] [--arg 0xHEX|TEXT]
  canister call    CANISTER METHOD [--arg 0xHEX|TEXT] [--query] [--dir D]`
