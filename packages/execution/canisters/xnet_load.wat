;; XNet load canister (after the IC's xnet-test-canister).
;;
;; On every heartbeat it sends `rate` requests to targets picked with a
;; deterministic PRNG (xorshift64*, seeded by `configure`) from its target list
;; (canisters on other subnets). A request is `seq_no u64 LE, time_nanos u64 LE,
;; padding` (payload_size bytes in all); seq_no counts per target and advances
;; only when `call_perform` accepted the call. The reply echoes the request, so
;; it carries the time back and has the same size; the reply callback records
;; the round-trip latency. Everything is fixed little-endian binary (no Candid).
;;
;; The receiver's check is the IC xnet-test-canister's: from each sender, seq_no
;; must be strictly increasing, else a sequence error (a duplicate or a
;; reordering). Gaps are legal: with guaranteed delivery a request is either
;; inducted, in stream order, or rejected (a reject signal or a reject response
;; generated before it reached the receiver), so the receiver sees an increasing
;; subsequence. The requests skipped are counted apart (seq_gaps); each is a
;; request its sender saw rejected.
;;
;; update "configure": rate u32, payload_size u32 (16..65536), seed u64,
;;                     n_targets u32 (<= 64), then n_targets x (len u8, principal bytes)
;; update "handle_request": the request above
;; query  "metrics": 27 x u64: sent, replied, rejected, seq_errors, call_errors,
;;                   received, latency_sum_ns, latency_count, latency_min_ns,
;;                   latency_max_ns, 16 histogram buckets of latency in ms
;;                   (bucket b holds latencies in [2^(b-1), 2^b) ms; bucket 0 < 1 ms; 15 is open),
;;                   then seq_gaps
;;
;; Heap layout: 0 rate u32 | 4 payload_size u32 | 8 n_targets u32 | 12 n_senders u32 |
;; 16 prng u64 | 32..248 metrics | 256 targets (64 x 32 B: len, bytes) |
;; 2304 next seq per target (64 x u64) | 3072 senders (256 x 40 B: len, bytes, next u64 at +32) |
;; 16384 caller scratch (32 B) | 16448 constant strings | 65536 payload scratch (64 KiB)
(module
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "msg_caller_size" (func $caller_size (result i32)))
  (import "ic0" "msg_caller_copy" (func $caller_copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "call_new" (func $call_new (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "ic0" "call_data_append" (func $call_data_append (param i32 i32)))
  (import "ic0" "call_perform" (func $call_perform (result i32)))
  (import "ic0" "time" (func $time (result i64)))
  (import "ic0" "trap" (func $trap (param i32 i32)))

  (memory 2)
  (table 2 funcref)
  (elem (i32.const 0) $on_reply $on_reject)
  (data (i32.const 16448) "bad configuration")
  (data (i32.const 16480) "handle_request")

  (global $METRICS i32 (i32.const 32))
  (global $TARGETS i32 (i32.const 256))
  (global $SEQS i32 (i32.const 2304))
  (global $SENDERS i32 (i32.const 3072))
  (global $MAX_SENDERS i32 (i32.const 256))
  (global $CALLER i32 (i32.const 16384))
  (global $PAYLOAD i32 (i32.const 65536))

  (func $metric_addr (param $i i32) (result i32)
    (i32.add (global.get $METRICS) (i32.shl (local.get $i) (i32.const 3))))
  (func $metric_add (param $i i32) (param $v i64)
    (local $a i32)
    (local.set $a (call $metric_addr (local.get $i)))
    (i64.store (local.get $a) (i64.add (i64.load (local.get $a)) (local.get $v))))

  (func $bad_config (call $trap (i32.const 16448) (i32.const 17)))

  (func $init
    ;; latency_min starts at u64::MAX
    (i64.store (call $metric_addr (i32.const 8)) (i64.const -1))
    (i64.store (i32.const 16) (i64.const 0x9E3779B97F4A7C15)))

  (func $next_random (result i64)
    (local $x i64)
    (local.set $x (i64.load (i32.const 16)))
    (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 12))))
    (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 25))))
    (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 27))))
    (i64.store (i32.const 16) (local.get $x))
    (i64.mul (local.get $x) (i64.const 0x2545F4914F6CDD1D)))

  (func $configure
    (local $n i32) (local $size i32) (local $count i32) (local $i i32) (local $p i32) (local $len i32)
    (local.set $n (call $arg_size))
    (if (i32.or (i32.lt_u (local.get $n) (i32.const 20)) (i32.gt_u (local.get $n) (i32.const 65536)))
      (then (call $bad_config)))
    (call $arg_copy (global.get $PAYLOAD) (i32.const 0) (local.get $n))
    (local.set $size (i32.load (i32.add (global.get $PAYLOAD) (i32.const 4))))
    (local.set $count (i32.load (i32.add (global.get $PAYLOAD) (i32.const 16))))
    (if (i32.or (i32.lt_u (local.get $size) (i32.const 16)) (i32.gt_u (local.get $size) (i32.const 65536)))
      (then (call $bad_config)))
    (if (i32.gt_u (local.get $count) (i32.const 64)) (then (call $bad_config)))
    (i32.store (i32.const 0) (i32.load (global.get $PAYLOAD)))
    (i32.store (i32.const 4) (local.get $size))
    (i64.store (i32.const 16) (i64.load (i32.add (global.get $PAYLOAD) (i32.const 8))))
    (if (i64.eqz (i64.load (i32.const 16))) (then (i64.store (i32.const 16) (i64.const 0x9E3779B97F4A7C15))))
    (local.set $p (i32.add (global.get $PAYLOAD) (i32.const 20)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (if (i32.ge_u (local.get $p) (i32.add (global.get $PAYLOAD) (local.get $n))) (then (call $bad_config)))
        (local.set $len (i32.load8_u (local.get $p)))
        (if (i32.or (i32.gt_u (local.get $len) (i32.const 29))
                    (i32.gt_u (i32.add (i32.add (local.get $p) (i32.const 1)) (local.get $len)) (i32.add (global.get $PAYLOAD) (local.get $n))))
          (then (call $bad_config)))
        (memory.copy (i32.add (global.get $TARGETS) (i32.shl (local.get $i) (i32.const 5))) (local.get $p) (i32.add (local.get $len) (i32.const 1)))
        (local.set $p (i32.add (i32.add (local.get $p) (i32.const 1)) (local.get $len)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (i32.store (i32.const 8) (local.get $count))
    ;; The payload scratch is reused for requests: clear the configuration bytes (padding is zeros).
    (memory.fill (global.get $PAYLOAD) (i32.const 0) (local.get $n))
    (call $reply))

  (func $heartbeat
    (local $i i32) (local $t i32) (local $target i32) (local $seq_addr i32) (local $size i32)
    (if (i32.eqz (i32.load (i32.const 8))) (then (return)))
    (local.set $size (i32.load (i32.const 4)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 0))))
        (local.set $t (i32.wrap_i64 (i64.rem_u (call $next_random) (i64.extend_i32_u (i32.load (i32.const 8))))))
        (local.set $target (i32.add (global.get $TARGETS) (i32.shl (local.get $t) (i32.const 5))))
        (local.set $seq_addr (i32.add (global.get $SEQS) (i32.shl (local.get $t) (i32.const 3))))
        (i64.store (global.get $PAYLOAD) (i64.load (local.get $seq_addr)))
        (i64.store (i32.add (global.get $PAYLOAD) (i32.const 8)) (call $time))
        (call $call_new
          (i32.add (local.get $target) (i32.const 1)) (i32.load8_u (local.get $target))
          (i32.const 16480) (i32.const 14)
          (i32.const 0) (local.get $t) (i32.const 1) (local.get $t))
        (call $call_data_append (global.get $PAYLOAD) (local.get $size))
        (if (i32.eqz (call $call_perform))
          (then
            (i64.store (local.get $seq_addr) (i64.add (i64.load (local.get $seq_addr)) (i64.const 1)))
            (call $metric_add (i32.const 0) (i64.const 1)))
          (else (call $metric_add (i32.const 4) (i64.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))

  ;; The sender slot for the caller (added when new); -1 when the table is full.
  (func $sender_slot (result i32)
    (local $len i32) (local $i i32) (local $slot i32) (local $j i32) (local $same i32)
    (local.set $len (call $caller_size))
    (if (i32.gt_u (local.get $len) (i32.const 31)) (then (return (i32.const -1))))
    (call $caller_copy (global.get $CALLER) (i32.const 0) (local.get $len))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 12))))
        (local.set $slot (i32.add (global.get $SENDERS) (i32.mul (local.get $i) (i32.const 40))))
        (if (i32.eq (i32.load8_u (local.get $slot)) (local.get $len))
          (then
            (local.set $same (i32.const 1))
            (local.set $j (i32.const 0))
            (block $cmp_done
              (loop $cmp
                (br_if $cmp_done (i32.ge_u (local.get $j) (local.get $len)))
                (if (i32.ne (i32.load8_u (i32.add (i32.add (local.get $slot) (i32.const 1)) (local.get $j)))
                            (i32.load8_u (i32.add (global.get $CALLER) (local.get $j))))
                  (then (local.set $same (i32.const 0)) (br $cmp_done)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $cmp)))
            (if (local.get $same) (then (return (local.get $slot))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (if (i32.ge_u (i32.load (i32.const 12)) (global.get $MAX_SENDERS)) (then (return (i32.const -1))))
    (local.set $slot (i32.add (global.get $SENDERS) (i32.mul (i32.load (i32.const 12)) (i32.const 40))))
    (i32.store8 (local.get $slot) (local.get $len))
    (memory.copy (i32.add (local.get $slot) (i32.const 1)) (global.get $CALLER) (local.get $len))
    (i32.store (i32.const 12) (i32.add (i32.load (i32.const 12)) (i32.const 1)))
    (local.get $slot))

  (func $handle_request
    (local $n i32) (local $slot i32) (local $seq i64) (local $next i64)
    (local.set $n (call $arg_size))
    (if (i32.or (i32.lt_u (local.get $n) (i32.const 16)) (i32.gt_u (local.get $n) (i32.const 65536)))
      (then (call $bad_config)))
    (call $arg_copy (global.get $PAYLOAD) (i32.const 0) (local.get $n))
    (local.set $seq (i64.load (global.get $PAYLOAD)))
    (local.set $slot (call $sender_slot))
    (if (i32.ge_s (local.get $slot) (i32.const 0))
      (then
        (local.set $next (i64.load (i32.add (local.get $slot) (i32.const 32))))
        ;; Below the next expected: seen before or overtaken, a sequence error. Above it: a gap (rejected requests).
        (if (i64.lt_u (local.get $seq) (local.get $next))
          (then (call $metric_add (i32.const 3) (i64.const 1)))
          (else (call $metric_add (i32.const 26) (i64.sub (local.get $seq) (local.get $next)))))
        (i64.store (i32.add (local.get $slot) (i32.const 32)) (i64.add (local.get $seq) (i64.const 1)))))
    (call $metric_add (i32.const 5) (i64.const 1))
    (call $reply_append (global.get $PAYLOAD) (local.get $n))
    (call $reply)
    (memory.fill (global.get $PAYLOAD) (i32.const 0) (local.get $n)))

  (func $on_reply (param $env i32)
    (local $lat i64) (local $ms i64) (local $bucket i32)
    (call $arg_copy (global.get $CALLER) (i32.const 8) (i32.const 8))
    (local.set $lat (i64.sub (call $time) (i64.load (global.get $CALLER))))
    (call $metric_add (i32.const 1) (i64.const 1))
    (call $metric_add (i32.const 6) (local.get $lat))
    (call $metric_add (i32.const 7) (i64.const 1))
    (if (i64.lt_u (local.get $lat) (i64.load (call $metric_addr (i32.const 8))))
      (then (i64.store (call $metric_addr (i32.const 8)) (local.get $lat))))
    (if (i64.gt_u (local.get $lat) (i64.load (call $metric_addr (i32.const 9))))
      (then (i64.store (call $metric_addr (i32.const 9)) (local.get $lat))))
    (local.set $ms (i64.div_u (local.get $lat) (i64.const 1000000)))
    (local.set $bucket (i32.wrap_i64 (i64.sub (i64.const 64) (i64.clz (local.get $ms)))))
    (if (i32.gt_u (local.get $bucket) (i32.const 15)) (then (local.set $bucket (i32.const 15))))
    (call $metric_add (i32.add (i32.const 10) (local.get $bucket)) (i64.const 1)))

  (func $on_reject (param $env i32)
    (call $metric_add (i32.const 2) (i64.const 1)))

  (func $metrics
    (call $reply_append (global.get $METRICS) (i32.const 216))
    (call $reply))

  (export "canister_init" (func $init))
  (export "canister_update configure" (func $configure))
  (export "canister_update handle_request" (func $handle_request))
  (export "canister_query metrics" (func $metrics))
  (export "canister_heartbeat" (func $heartbeat)))
