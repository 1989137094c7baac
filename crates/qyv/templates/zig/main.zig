const std = @import("std");

pub fn main(init: std.process.Init) !void {
    var buffer: [1024]u8 = undefined;
    // Streaming: stdout is a pipe or a terminal, not a seekable file.
    var stdout = std.Io.File.stdout().writerStreaming(init.io, &buffer);
    const out = &stdout.interface;
    try out.writeAll("Hello from Zig! This is {{name}}.\nargs:");
    const args = try init.minimal.args.toSlice(init.arena.allocator());
    for (args[1..]) |arg| try out.print(" {s}", .{arg});
    try out.writeAll("\n");
    try out.flush();
}
