@file:OptIn(UnsafeWasmMemoryApi::class, ExperimentalWasmInterop::class)

import kotlin.wasm.ExperimentalWasmInterop
import kotlin.wasm.WasmImport
import kotlin.wasm.unsafe.Pointer
import kotlin.wasm.unsafe.UnsafeWasmMemoryApi
import kotlin.wasm.unsafe.withScopedMemoryAllocator

// The WASI standard library has println only: arguments come from WASI.
@WasmImport("wasi_snapshot_preview1", "args_sizes_get")
private external fun argsSizesGet(count: Int, size: Int): Int

@WasmImport("wasi_snapshot_preview1", "args_get")
private external fun argsGet(argv: Int, buf: Int): Int

private fun arguments(): List<String> = withScopedMemoryAllocator { alloc ->
    val count = alloc.allocate(4)
    val size = alloc.allocate(4)
    argsSizesGet(count.address.toInt(), size.address.toInt())
    val pointers = alloc.allocate(maxOf(count.loadInt() * 4, 4))
    val buf = alloc.allocate(maxOf(size.loadInt(), 1))
    argsGet(pointers.address.toInt(), buf.address.toInt())
    List(count.loadInt()) { i ->
        val start = Pointer((pointers + i * 4).loadInt().toUInt())
        var len = 0
        while ((start + len).loadByte() != 0.toByte()) len++
        ByteArray(len) { (start + it).loadByte() }.decodeToString()
    }
}

fun main() {
    println("Hello from Kotlin! This is {{name}}.")
    println((listOf("args:") + arguments().drop(1)).joinToString(" "))
}
