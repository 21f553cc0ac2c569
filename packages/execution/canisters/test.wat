;; A canister for exercising the sandbox: inter-canister call flows, traps,
;; limits and every implemented system API call.
;;
;; Counters (u64 LE) at heap 0: calls made, replies, rejects, cleanups,
;; heartbeats, timers. `query stats` replies these 48 bytes.
;;
;; update "forward": arg = mode u8, callee_len u8, callee, method_len u8, method, payload.
;; Calls callee.method(payload) with env = mode. Mode bits:
;;   1: trap in the reply callback (after bumping the reply counter)
;;   2: set a cleanup callback
;;   4: reply "sent" at once (the callback's reply then traps: already replied)
;;   8: trap in the reject callback
;;  16: trap in the cleanup callback
;; The reply callback replies with the callee's reply; the reject callback
;; replies with [reject code u8] ++ reject message.
(module
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "msg_caller_size" (func $caller_size (result i32)))
  (import "ic0" "msg_caller_copy" (func $caller_copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reject" (func $reject (param i32 i32)))
  (import "ic0" "msg_reject_code" (func $reject_code (result i32)))
  (import "ic0" "msg_reject_msg_size" (func $reject_msg_size (result i32)))
  (import "ic0" "msg_reject_msg_copy" (func $reject_msg_copy (param i32 i32 i32)))
  (import "ic0" "canister_self_size" (func $self_size (result i32)))
  (import "ic0" "canister_self_copy" (func $self_copy (param i32 i32 i32)))
  (import "ic0" "call_new" (func $call_new (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "ic0" "call_data_append" (func $call_data_append (param i32 i32)))
  (import "ic0" "call_on_cleanup" (func $call_on_cleanup (param i32 i32)))
  (import "ic0" "call_perform" (func $call_perform (result i32)))
  (import "ic0" "stable64_size" (func $stable_size (result i64)))
  (import "ic0" "stable64_grow" (func $stable_grow (param i64) (result i64)))
  (import "ic0" "stable64_write" (func $stable_write (param i64 i64 i64)))
  (import "ic0" "stable64_read" (func $stable_read (param i64 i64 i64)))
  (import "ic0" "certified_data_set" (func $certified_data_set (param i32 i32)))
  (import "ic0" "time" (func $time (result i64)))
  (import "ic0" "global_timer_set" (func $timer_set (param i64) (result i64)))
  (import "ic0" "debug_print" (func $debug_print (param i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "canister_cycle_balance" (func $cycle_balance (result i64)))

  (memory 1)
  (table 3 funcref)
  (elem (i32.const 0) $on_reply $on_reject $on_cleanup)
  (data (i32.const 512) "sent")
  (data (i32.const 520) "boom")
  (data (i32.const 528) "reply callback trapped")
  (data (i32.const 560) "reject callback trapped")
  (data (i32.const 592) "cleanup trapped")
  (data (i32.const 608) "call_perform failed")
  (data (i32.const 640) "stable memory limit")
  (data (i32.const 672) "no")

  (func $bump (param $addr i32)
    (i64.store (local.get $addr) (i64.add (i64.load (local.get $addr)) (i64.const 1))))

  (func $reply_bytes (param $ptr i32) (param $len i32)
    (call $reply_append (local.get $ptr) (local.get $len))
    (call $reply))

  (func $reply_u64 (param $v i64)
    (i64.store (i32.const 256) (local.get $v))
    (call $reply_bytes (i32.const 256) (i32.const 8)))

  ;; Copies the argument to 1024 and returns its size.
  (func $load_arg (result i32)
    (local $n i32)
    (local.set $n (call $arg_size))
    (call $arg_copy (i32.const 1024) (i32.const 0) (local.get $n))
    (local.get $n))

  (func $forward
    (local $n i32) (local $mode i32) (local $cl i32) (local $ml i32) (local $p i32)
    (local.set $n (call $load_arg))
    (local.set $mode (i32.load8_u (i32.const 1024)))
    (local.set $cl (i32.load8_u (i32.const 1025)))
    (local.set $ml (i32.load8_u (i32.add (i32.const 1026) (local.get $cl))))
    (call $call_new
      (i32.const 1026) (local.get $cl)
      (i32.add (i32.const 1027) (local.get $cl)) (local.get $ml)
      (i32.const 0) (local.get $mode) (i32.const 1) (local.get $mode))
    (if (i32.and (local.get $mode) (i32.const 2))
      (then (call $call_on_cleanup (i32.const 2) (local.get $mode))))
    (local.set $p (i32.add (i32.add (i32.const 1027) (local.get $cl)) (local.get $ml)))
    (call $call_data_append (local.get $p) (i32.sub (local.get $n) (i32.sub (local.get $p) (i32.const 1024))))
    (if (call $call_perform) (then (call $trap (i32.const 608) (i32.const 19))))
    (call $bump (i32.const 0))
    (if (i32.and (local.get $mode) (i32.const 4))
      (then (call $reply_bytes (i32.const 512) (i32.const 4)))))

  (func $on_reply (param $env i32)
    (local $n i32)
    (call $bump (i32.const 8))
    (if (i32.and (local.get $env) (i32.const 1))
      (then (call $trap (i32.const 528) (i32.const 22))))
    (local.set $n (call $load_arg))
    (call $reply_bytes (i32.const 1024) (local.get $n)))

  (func $on_reject (param $env i32)
    (local $m i32)
    (call $bump (i32.const 16))
    (if (i32.and (local.get $env) (i32.const 8))
      (then (call $trap (i32.const 560) (i32.const 23))))
    (i32.store8 (i32.const 1024) (call $reject_code))
    (local.set $m (call $reject_msg_size))
    (call $reject_msg_copy (i32.const 1025) (i32.const 0) (local.get $m))
    (call $reply_bytes (i32.const 1024) (i32.add (local.get $m) (i32.const 1))))

  (func $on_cleanup (param $env i32)
    (call $bump (i32.const 24))
    (if (i32.and (local.get $env) (i32.const 16))
      (then (call $trap (i32.const 592) (i32.const 15)))))

  (func $stats (call $reply_bytes (i32.const 0) (i32.const 48)))
  (func $heartbeat (call $bump (i32.const 32)))
  (func $timer (call $bump (i32.const 40)))

  (func $explicit_trap (call $trap (i32.const 520) (i32.const 4)))
  (func $reply_twice (call $reply) (call $reply))
  (func $reject_it (call $reject (i32.const 672) (i32.const 2)))
  (func $noreply)
  (func $spin (loop $l (br $l)))

  ;; arg u32 n: a loop of n iterations of fixed work; replies the sum.
  (func $work
    (local $i i32) (local $acc i64)
    (drop (call $load_arg))
    (local.set $i (i32.load (i32.const 1024)))
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $i)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $l)))
    (call $reply_u64 (local.get $acc)))

  ;; arg u32 pages: grows the heap; traps when the heap cannot grow (like an allocator would).
  (func $grow
    (drop (call $load_arg))
    (if (i32.eq (memory.grow (i32.load (i32.const 1024))) (i32.const -1)) (then unreachable))
    (call $reply_u64 (i64.extend_i32_u (memory.size))))

  ;; arg u64 pages: grows stable memory, writes its last byte; traps at the limit.
  (func $grow_stable
    (local $old i64)
    (drop (call $load_arg))
    (local.set $old (call $stable_grow (i64.load (i32.const 1024))))
    (if (i64.eq (local.get $old) (i64.const -1)) (then (call $trap (i32.const 640) (i32.const 19))))
    (call $stable_write (i64.sub (i64.mul (call $stable_size) (i64.const 65536)) (i64.const 1)) (i64.const 520) (i64.const 1))
    (call $reply_u64 (local.get $old)))

  ;; arg: u64 stable offset, then bytes: writes them to stable memory.
  (func $write_stable
    (local $n i32)
    (local.set $n (call $load_arg))
    (call $stable_write (i64.load (i32.const 1024)) (i64.const 1032) (i64.extend_i32_u (i32.sub (local.get $n) (i32.const 8))))
    (call $reply_u64 (call $stable_size)))

  ;; arg: u64 stable offset, u64 length: replies those stable bytes.
  (func $read_stable
    (drop (call $load_arg))
    (call $stable_read (i64.const 2048) (i64.load (i32.const 1024)) (i64.load (i32.const 1032)))
    (call $reply_bytes (i32.const 2048) (i32.wrap_i64 (i64.load (i32.const 1032)))))

  ;; arg u32 n: writes one byte into each of heap pages 4..4+n (4 KiB pages), growing as needed.
  (func $touch_pages
    (local $i i32) (local $n i32) (local $need i32)
    (drop (call $load_arg))
    (local.set $n (i32.load (i32.const 1024)))
    (local.set $need (i32.shr_u (i32.add (i32.mul (i32.add (local.get $n) (i32.const 4)) (i32.const 4096)) (i32.const 65535)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1)) (then unreachable))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.mul (i32.add (local.get $i) (i32.const 4)) (i32.const 4096))
          (i32.add (i32.load8_u (i32.mul (i32.add (local.get $i) (i32.const 4)) (i32.const 4096))) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (call $reply_u64 (i64.extend_i32_u (memory.size))))

  ;; arg u32 n: memory.fill of n bytes at 8192 (bulk memory is metered per byte).
  (func $fill
    (drop (call $load_arg))
    (memory.fill (i32.const 8192) (i32.const 7) (i32.load (i32.const 1024)))
    (call $reply_bytes (i32.const 0) (i32.const 0)))

  (func $arg_oob
    (call $arg_copy (i32.const 1024) (i32.const 0) (i32.add (call $arg_size) (i32.const 1))))

  (func $certify
    (local $n i32)
    (local.set $n (call $load_arg))
    (call $certified_data_set (i32.const 1024) (local.get $n))
    (call $reply_bytes (i32.const 0) (i32.const 0)))

  (func $print
    (local $n i32)
    (local.set $n (call $load_arg))
    (call $debug_print (i32.const 1024) (local.get $n))
    (call $reply_bytes (i32.const 0) (i32.const 0)))

  ;; arg u64: sets the global timer, replies the previous value.
  (func $set_timer
    (drop (call $load_arg))
    (call $reply_u64 (call $timer_set (i64.load (i32.const 1024)))))

  (func $get_time (call $reply_u64 (call $time)))

  (func $whoami
    (local $n i32)
    (local.set $n (call $caller_size))
    (call $caller_copy (i32.const 1024) (i32.const 0) (local.get $n))
    (call $reply_bytes (i32.const 1024) (local.get $n)))

  (func $self
    (local $n i32)
    (local.set $n (call $self_size))
    (call $self_copy (i32.const 1024) (i32.const 0) (local.get $n))
    (call $reply_bytes (i32.const 1024) (local.get $n)))

  (func $cycles (call $reply_u64 (call $cycle_balance)))

  ;; A query that writes state: the change must be discarded.
  (func $write_in_query
    (call $bump (i32.const 0))
    (call $stats))

  (func $call_in_query
    (call $call_new (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 0)))

  (export "canister_update forward" (func $forward))
  (export "canister_query stats" (func $stats))
  (export "canister_heartbeat" (func $heartbeat))
  (export "canister_global_timer" (func $timer))
  (export "canister_update trap" (func $explicit_trap))
  (export "canister_update reply_twice" (func $reply_twice))
  (export "canister_update reject" (func $reject_it))
  (export "canister_update noreply" (func $noreply))
  (export "canister_update spin" (func $spin))
  (export "canister_update work" (func $work))
  (export "canister_update grow" (func $grow))
  (export "canister_update grow_stable" (func $grow_stable))
  (export "canister_update write_stable" (func $write_stable))
  (export "canister_query read_stable" (func $read_stable))
  (export "canister_update touch_pages" (func $touch_pages))
  (export "canister_update fill" (func $fill))
  (export "canister_update arg_oob" (func $arg_oob))
  (export "canister_update certify" (func $certify))
  (export "canister_query certify_in_query" (func $certify))
  (export "canister_update print" (func $print))
  (export "canister_update set_timer" (func $set_timer))
  (export "canister_update time" (func $get_time))
  (export "canister_update whoami" (func $whoami))
  (export "canister_update self" (func $self))
  (export "canister_update cycles" (func $cycles))
  (export "canister_query write_in_query" (func $write_in_query))
  (export "canister_query call_in_query" (func $call_in_query)))
