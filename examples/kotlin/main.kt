// The contract app (examples/CONTRACT.md) in Kotlin, compiled by
// Kotlin/Wasm for WASI: a preview-1 core module using Wasm GC and
// exception handling. The WASI standard library gives println only, so
// arguments, environment, files and the exit status come from WASI calls
// declared here, with buffers in linear memory from a scoped allocator.
@file:OptIn(UnsafeWasmMemoryApi::class, ExperimentalWasmInterop::class)

import kotlin.wasm.ExperimentalWasmInterop
import kotlin.wasm.WasmImport
import kotlin.wasm.unsafe.MemoryAllocator
import kotlin.wasm.unsafe.Pointer
import kotlin.wasm.unsafe.UnsafeWasmMemoryApi
import kotlin.wasm.unsafe.withScopedMemoryAllocator

const val LANGUAGE = "Kotlin"

@WasmImport("wasi_snapshot_preview1", "args_sizes_get")
private external fun argsSizesGet(count: Int, size: Int): Int

@WasmImport("wasi_snapshot_preview1", "args_get")
private external fun argsGet(argv: Int, buf: Int): Int

@WasmImport("wasi_snapshot_preview1", "environ_sizes_get")
private external fun environSizesGet(count: Int, size: Int): Int

@WasmImport("wasi_snapshot_preview1", "environ_get")
private external fun environGet(environ: Int, buf: Int): Int

@WasmImport("wasi_snapshot_preview1", "fd_prestat_get")
private external fun fdPrestatGet(fd: Int, buf: Int): Int

@WasmImport("wasi_snapshot_preview1", "fd_prestat_dir_name")
private external fun fdPrestatDirName(fd: Int, path: Int, len: Int): Int

@WasmImport("wasi_snapshot_preview1", "path_open")
private external fun pathOpen(
    dirfd: Int, dirflags: Int, path: Int, pathLen: Int, oflags: Int,
    rightsBase: Long, rightsInheriting: Long, fdflags: Int, fd: Int,
): Int

@WasmImport("wasi_snapshot_preview1", "fd_read")
private external fun fdRead(fd: Int, iovs: Int, iovsLen: Int, nread: Int): Int

@WasmImport("wasi_snapshot_preview1", "fd_write")
private external fun fdWrite(fd: Int, iovs: Int, iovsLen: Int, nwritten: Int): Int

@WasmImport("wasi_snapshot_preview1", "fd_close")
private external fun fdClose(fd: Int): Int

@WasmImport("wasi_snapshot_preview1", "proc_exit")
private external fun procExit(code: Int)

private const val RIGHT_FD_READ = 2L
private const val RIGHT_FD_WRITE = 64L
private const val OFLAG_CREAT = 1
private const val OFLAG_TRUNC = 8

private class WasiError(what: String, errno: Int) : Exception("$what: WASI errno $errno")

private fun check(what: String, errno: Int) {
    if (errno != 0) throw WasiError(what, errno)
}

private fun Pointer.int(): Int = loadInt()
private fun Pointer.addr(): Int = address.toInt()

private fun Pointer.bytes(length: Int): ByteArray = ByteArray(length) { (this + it).loadByte() }

private fun MemoryAllocator.copyOf(bytes: ByteArray): Pointer {
    val p = allocate(maxOf(bytes.size, 1))
    bytes.forEachIndexed { i, b -> (p + i).storeByte(b) }
    return p
}

/**
 * The NUL-terminated strings laid out by environ_get (or args_get). The
 * calls are direct: function references would put this file's absolute
 * path into the module and make builds differ from folder to folder.
 */
private fun strings(environment: Boolean): List<String> = withScopedMemoryAllocator { alloc ->
    val count = alloc.allocate(4)
    val size = alloc.allocate(4)
    check(
        "sizes",
        if (environment) environSizesGet(count.addr(), size.addr()) else argsSizesGet(count.addr(), size.addr()),
    )
    val pointers = alloc.allocate(maxOf(count.int() * 4, 4))
    val buf = alloc.allocate(maxOf(size.int(), 1))
    check(
        "get",
        if (environment) environGet(pointers.addr(), buf.addr()) else argsGet(pointers.addr(), buf.addr()),
    )
    List(count.int()) { i ->
        val start = Pointer((pointers + i * 4).loadInt().toUInt())
        var len = 0
        while ((start + len).loadByte() != 0.toByte()) len++
        start.bytes(len).decodeToString()
    }
}

/** The descriptor of the preopened folder the host named `name`. */
private fun preopen(name: String): Int = withScopedMemoryAllocator { alloc ->
    val prestat = alloc.allocate(8)
    var fd = 3
    while (fdPrestatGet(fd, prestat.addr()) == 0) {
        val len = (prestat + 4).int()
        val path = alloc.allocate(maxOf(len, 1))
        if (fdPrestatDirName(fd, path.addr(), len) == 0 && path.bytes(len).decodeToString() == name) {
            return@withScopedMemoryAllocator fd
        }
        fd++
    }
    throw WasiError("$name is not mounted", 44)
}

private fun open(dir: String, file: String, oflags: Int, rights: Long): Int =
    withScopedMemoryAllocator { alloc ->
        val path = file.encodeToByteArray()
        val fd = alloc.allocate(4)
        check(
            "$dir/$file",
            pathOpen(preopen(dir), 0, alloc.copyOf(path).addr(), path.size, oflags, rights, 0L, 0, fd.addr()),
        )
        fd.int()
    }

private fun readAll(fd: Int): ByteArray = withScopedMemoryAllocator { alloc ->
    val chunk = alloc.allocate(4096)
    val iov = alloc.allocate(8)
    val n = alloc.allocate(4)
    var bytes = ByteArray(0)
    while (true) {
        iov.storeInt(chunk.addr())
        (iov + 4).storeInt(4096)
        check("read", fdRead(fd, iov.addr(), 1, n.addr()))
        if (n.int() == 0) break
        bytes += chunk.bytes(n.int())
    }
    bytes
}

private fun writeAll(fd: Int, bytes: ByteArray) = withScopedMemoryAllocator { alloc ->
    val data = alloc.copyOf(bytes)
    val iov = alloc.allocate(8)
    val n = alloc.allocate(4)
    var done = 0
    while (done < bytes.size) {
        iov.storeInt(data.addr() + done)
        (iov + 4).storeInt(bytes.size - done)
        check("write", fdWrite(fd, iov.addr(), 1, n.addr()))
        done += n.int()
    }
}

fun main() {
    val code = try {
        contract()
    } catch (e: WasiError) {
        val message = "error: ${e.message}\n".encodeToByteArray()
        writeAll(2, message)
        1
    }
    procExit(code)
}

private fun contract(): Int {
    println("Hello from $LANGUAGE!")

    val args = strings(environment = false).drop(1)
    println((listOf("args:") + args.map { "[$it]" }).joinToString(" "))

    val greeting = strings(environment = true)
        .firstOrNull { it.startsWith("GREETING=") }
    println(greeting ?: "GREETING is not set")

    val input = open("/input", "message.txt", 0, RIGHT_FD_READ)
    val first = readAll(input).decodeToString().substringBefore('\n').removeSuffix("\r")
    fdClose(input)
    println("input: $first")

    val output = open("/output", "result.txt", OFLAG_CREAT or OFLAG_TRUNC, RIGHT_FD_WRITE)
    writeAll(output, "$LANGUAGE read: $first\n".encodeToByteArray())
    fdClose(output)
    println("wrote /output/result.txt")

    return args.firstOrNull()?.toIntOrNull() ?: 0
}
