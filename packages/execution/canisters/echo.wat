;; Echo canister: replies with its argument, growing the heap when the
;; argument does not fit (and trapping if it cannot grow).
;;   update "echo", query "echo_query"
(module
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory 1)

  (func $ensure_heap (param $bytes i32)
    (local $need i32)
    (local.set $need (i32.shr_u (i32.add (local.get $bytes) (i32.const 65535)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then unreachable)))))

  (func $echo
    (local $n i32)
    (local.set $n (call $arg_size))
    (call $ensure_heap (local.get $n))
    (call $arg_copy (i32.const 0) (i32.const 0) (local.get $n))
    (call $reply_append (i32.const 0) (local.get $n))
    (call $reply))

  (export "canister_update echo" (func $echo))
  (export "canister_query echo_query" (func $echo)))
