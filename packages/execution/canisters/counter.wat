;; Counter canister. State: a u64 in a mutable global (globals are canister
;; state) mirrored into the heap at address 16 (so heap pages change too).
;;   update "inc"     -> counter += 1, replies the new value (u64 LE)
;;   update "add"     arg u64 LE -> counter += arg, replies the new value
;;   query  "get"     -> replies the value
;;   canister_init    optional arg u64 LE: the initial value
;;   pre/post upgrade keep the value in stable memory (bytes 0..8)
(module
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "stable64_size" (func $stable_size (result i64)))
  (import "ic0" "stable64_grow" (func $stable_grow (param i64) (result i64)))
  (import "ic0" "stable64_read" (func $stable_read (param i64 i64 i64)))
  (import "ic0" "stable64_write" (func $stable_write (param i64 i64 i64)))
  (memory 1)
  (global $count (mut i64) (i64.const 0))
  (data (i32.const 100) "bad argument")

  (func $reply_count
    (i64.store (i32.const 16) (global.get $count))
    (i64.store (i32.const 0) (global.get $count))
    (call $reply_append (i32.const 0) (i32.const 8))
    (call $reply))

  (func $read_u64_arg (result i64)
    (if (i32.ne (call $arg_size) (i32.const 8))
      (then (call $trap (i32.const 100) (i32.const 12))))
    (call $arg_copy (i32.const 8) (i32.const 0) (i32.const 8))
    (i64.load (i32.const 8)))

  (func $init
    (if (i32.eq (call $arg_size) (i32.const 8))
      (then (global.set $count (call $read_u64_arg))))
    (i64.store (i32.const 16) (global.get $count)))

  (func $inc
    (global.set $count (i64.add (global.get $count) (i64.const 1)))
    (call $reply_count))

  (func $add
    (global.set $count (i64.add (global.get $count) (call $read_u64_arg)))
    (call $reply_count))

  (func $pre_upgrade
    (if (i64.eqz (call $stable_size))
      (then (drop (call $stable_grow (i64.const 1)))))
    (i64.store (i32.const 0) (global.get $count))
    (call $stable_write (i64.const 0) (i64.const 0) (i64.const 8)))

  (func $post_upgrade
    (call $stable_read (i64.const 0) (i64.const 0) (i64.const 8))
    (global.set $count (i64.load (i32.const 0)))
    (i64.store (i32.const 16) (global.get $count)))

  (export "canister_init" (func $init))
  (export "canister_update inc" (func $inc))
  (export "canister_update add" (func $add))
  (export "canister_query get" (func $reply_count))
  (export "canister_pre_upgrade" (func $pre_upgrade))
  (export "canister_post_upgrade" (func $post_upgrade)))
