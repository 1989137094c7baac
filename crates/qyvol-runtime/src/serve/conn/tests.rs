//! The caps on a registry of fake clients; the timeouts and the drain on a
//! real listener driven by raw sockets. Every wait is bounded generously
//! (a hang fails the test); no result depends on how fast the machine is
//! beyond margins of seconds.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wasmtime_wasi_http::io::TokioIo;

use super::*;

/// How long a test waits for something that must happen.
const BOUND: Duration = Duration::from_secs(60);

fn peer(last: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, last], 40000))
}

fn limits(max: usize, per_client: usize) -> ConnectionLimits {
    ConnectionLimits {
        max_connections: max,
        max_per_client: per_client,
        ..ConnectionLimits::default()
    }
}

/// Whether the slot was told to close.
async fn killed(slot: &Slot) -> bool {
    tokio::time::timeout(Duration::from_millis(5), slot.state.kill.notified())
        .await
        .is_ok()
}

#[tokio::test]
async fn at_a_cap_the_longest_waiting_connection_goes_and_a_busy_one_never() {
    let conns = Connections::new("test", limits(3, 2), Protocol::Http);
    let a1 = conns.admit(peer(1)).unwrap();
    let a2 = conns.admit(peer(1)).unwrap();
    // Client 1 is at its cap: its connection waiting longest makes room.
    let a3 = conns.admit(peer(1)).unwrap();
    assert!(killed(&a1).await);
    assert!(!killed(&a2).await);
    // With both of its connections busy, client 1 is refused.
    a2.state.busy();
    a3.state.busy();
    assert!(matches!(
        conns.admit(peer(1)),
        Err(Refused(Cause::ClientCap))
    ));
    // Another client fits until the listener's cap; then the connection
    // waiting longest of any client goes.
    let b1 = conns.admit(peer(2)).unwrap();
    let b2 = conns.admit(peer(2)).unwrap();
    assert!(killed(&b1).await);
    assert!(!killed(&a2).await && !killed(&a3).await);
    b2.state.busy();
    assert!(matches!(conns.admit(peer(3)), Err(Refused(Cause::Cap))));
    // A connection that ends makes room.
    drop(a2);
    assert!(conns.admit(peer(3)).is_ok());
}

#[tokio::test]
async fn without_a_cap_per_client_one_address_may_hold_them_all() {
    let conns = Connections::new("test", limits(3, 0), Protocol::Tls);
    let slots: Vec<Slot> = (0..3).map(|_| conns.admit(peer(1)).unwrap()).collect();
    for s in &slots {
        assert!(!killed(s).await);
    }
    assert_eq!(conns.open(), 3);
}

/// A listener with `limits` whose requests are answered `ok`: `/sleep/MS`
/// after that long, `/big` with 64 MiB, a POST after reading its body.
async fn listener(
    limits: ConnectionLimits,
) -> (SocketAddr, Arc<Connections>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Connections::new("test", limits, Protocol::Http);
    let accepting = conns.clone();
    let task = tokio::spawn(async move {
        loop {
            let (stream, slot) = accepting.accept(&listener).await;
            let service = hyper::service::service_fn(answer);
            tokio::spawn(slot.serve(TokioIo::new(stream), service));
        }
    });
    (addr, conns, task)
}

async fn answer(
    request: Request<WatchedBody<Incoming>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_string();
    if request.method() == http::Method::POST {
        let _ = request.into_body().collect().await;
    } else if let Some(ms) = path.strip_prefix("/sleep/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
    } else if path == "/big" {
        return Ok(Response::new(Full::new(Bytes::from(vec![b'x'; 64 << 20]))));
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

/// Sends `request` and reads its answer, which ends with `ok`.
async fn ask(stream: &mut TcpStream, request: &str) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0; 1024];
    while !got.ends_with(b"\r\n\r\nok") {
        let n = tokio::time::timeout(BOUND, stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
}

/// Reads to the end, which must come: how many bytes came before it.
async fn closed(stream: &mut TcpStream) -> usize {
    let mut total = 0;
    let mut buf = vec![0; 64 << 10];
    loop {
        match tokio::time::timeout(BOUND, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return total,
            Ok(Ok(n)) => total += n,
            Err(_) => panic!("the connection stayed open"),
        }
    }
}

/// Waits until `n` connections have a request in flight.
async fn busy_ones(conns: &Connections, n: usize) {
    let started = Instant::now();
    loop {
        let busy = lock(&conns.registry)
            .open
            .values()
            .filter(|e| e.state.waiting_since().is_none())
            .count();
        if busy >= n {
            return;
        }
        assert!(started.elapsed() < BOUND, "{busy} busy");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const GET: &str = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_that_stall_and_idle_connections_are_closed_and_busy_ones_are_not() {
    let (addr, conns, task) = listener(ConnectionLimits {
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(5),
        ..ConnectionLimits::default()
    })
    .await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert_eq!(closed(&mut silent).await, 0);
    assert_eq!(closed(&mut half).await, 0);

    // A request that runs longer than both timeouts is answered; the
    // connection then waits for the next one past the header timeout, and
    // is closed once idle for the idle timeout.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    ask(&mut kept, "GET /sleep/6000 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    ask(&mut kept, GET).await;
    let idle = Instant::now();
    assert_eq!(closed(&mut kept).await, 0);
    assert!(
        idle.elapsed() >= Duration::from_secs(4),
        "{:?}",
        idle.elapsed()
    );
    task.abort();
    drop(conns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_and_a_client_that_stops_reading_are_cut_off() {
    let (addr, _conns, task) = listener(ConnectionLimits {
        idle_timeout: Duration::from_millis(500),
        ..ConnectionLimits::default()
    })
    .await;
    let mut upload = TcpStream::connect(addr).await.unwrap();
    upload
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        .await
        .unwrap();
    assert_eq!(closed(&mut upload).await, 0);

    let mut reader = TcpStream::connect(addr).await.unwrap();
    reader
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // The answer cannot all fit in the sockets' buffers while nobody
    // reads: the server waits, then gives up on this client.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(closed(&mut reader).await < 64 << 20);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_lets_requests_in_flight_finish_and_cuts_the_rest_at_its_deadline() {
    let (addr, conns, task) = listener(ConnectionLimits::default()).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    ask(&mut idle, GET).await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /sleep/1000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Until it is admitted and busy, the drain would not wait for it.
    busy_ones(&conns, 1).await;
    task.abort();
    let drained = tokio::spawn({
        let conns = conns.clone();
        async move {
            drain(
                &conns,
                async {},
                Instant::now() + BOUND,
                std::future::pending(),
            )
            .await
        }
    });
    assert_eq!(closed(&mut idle).await, 0);
    let mut answer = Vec::new();
    busy.read_to_end(&mut answer).await.unwrap();
    assert!(answer.ends_with(b"\r\n\r\nok"), "{answer:?}");
    assert_eq!(drained.await.unwrap(), Drained::Finished);

    // A head that never ends and a request that never does are cut at the
    // deadline.
    let (addr, conns, task) = listener(ConnectionLimits::default()).await;
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /sleep/600000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    busy_ones(&conns, 1).await;
    assert_eq!(conns.open(), 2);
    task.abort();
    let deadline = Instant::now() + Duration::from_millis(500);
    let drained = drain(&conns, async {}, deadline, std::future::pending()).await;
    assert_eq!(drained, Drained::DeadlinePassed { cut: 2 });
    assert_eq!(closed(&mut stalled).await, 0);
    assert_eq!(closed(&mut slow).await, 0);
}
