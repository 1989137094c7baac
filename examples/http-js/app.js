// Hello over HTTP, in JavaScript: answers every request with a greeting
// that names its language, and the path it was asked for. componentize-js
// (SpiderMonkey inside) makes it a component of world `http` in
// wit/world.wit.
//
// It exports `incomingHandler` itself rather than using the engine's
// `addEventListener("fetch", ...)`: a fetch event's `request.url` is a
// parsed URL (dot segments removed, characters escaped), while
// `pathWithQuery()` is the path exactly as the client sent it, as the
// Rust and Python examples answer.
import {
  Fields,
  OutgoingBody,
  OutgoingResponse,
  ResponseOutparam,
} from "wasi:http/types@0.2.10";

const utf8 = new TextEncoder();

export const incomingHandler = {
  handle(request, responseOut) {
    const path = request.pathWithQuery() ?? "/";
    const headers = Fields.fromList([
      ["content-type", utf8.encode("text/plain; charset=utf-8")],
    ]);
    const response = new OutgoingResponse(headers);
    const body = response.body();
    ResponseOutparam.set(responseOut, { tag: "ok", val: response });
    const out = body.write();
    out.blockingWriteAndFlush(
      utf8.encode(`Hello from JavaScript! You asked for ${path}\n`),
    );
    // The stream is a child of the body: finishing the body while it lives
    // traps ("resource has children").
    out[Symbol.dispose]();
    OutgoingBody.finish(body, undefined);
  },
};
