//! The contract app (examples/CONTRACT.md) in Zig, a WASI preview-1 module.
//! Files are reached through the preopened folders by name, the WASI way.
const std = @import("std");

const language = "Zig";

pub fn main(init: std.process.Init) !u8 {
    const io = init.io;
    const gpa = init.gpa;
    var buffer: [4096]u8 = undefined;
    // Streaming: stdout is a pipe or terminal, never a seekable file.
    var stdout_writer = std.Io.File.stdout().writerStreaming(io, &buffer);
    const out = &stdout_writer.interface;

    try out.print("Hello from {s}!\n", .{language});

    const args = try init.minimal.args.toSlice(init.arena.allocator());
    try out.writeAll("args:");
    for (args[1..]) |arg| try out.print(" [{s}]", .{arg});
    try out.writeAll("\n");

    if (init.environ_map.get("GREETING")) |greeting| {
        try out.print("GREETING={s}\n", .{greeting});
    } else {
        try out.writeAll("GREETING is not set\n");
    }

    const input = switch (init.preopens.get("/input") orelse return error.InputNotMounted) {
        .dir => |d| d,
        .file => return error.InputNotMounted,
    };
    const text = try input.readFileAlloc(io, "message.txt", gpa, .limited(1 << 20));
    defer gpa.free(text);
    const end = std.mem.indexOfScalar(u8, text, '\n') orelse text.len;
    const first = std.mem.trimEnd(u8, text[0..end], "\r");
    try out.print("input: {s}\n", .{first});

    const output = switch (init.preopens.get("/output") orelse return error.OutputNotMounted) {
        .dir => |d| d,
        .file => return error.OutputNotMounted,
    };
    const result = try std.fmt.allocPrint(gpa, "{s} read: {s}\n", .{ language, first });
    defer gpa.free(result);
    try output.writeFile(io, .{ .sub_path = "result.txt", .data = result });
    try out.writeAll("wrote /output/result.txt\n");
    try out.flush();

    if (args.len < 2) return 0;
    return std.fmt.parseInt(u8, args[1], 10) catch 0;
}
