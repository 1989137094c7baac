"""Hello over HTTP, in Python: answers every request with a greeting that
names its language, and the path it was asked for. Built into a component
by componentize-py (world `http` in wit/world.wit) by examples/build.sh."""

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        path = request.path_with_query() or "/"
        headers = Fields.from_list([("content-type", b"text/plain; charset=utf-8")])
        response = OutgoingResponse(headers)
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        with body.write() as stream:
            stream.blocking_write_and_flush(
                f"Hello from Python! You asked for {path}\n".encode()
            )
        OutgoingBody.finish(body, None)
