//! Bounds on connections, so idle or slow clients cannot hold a listener's resources: every
//! listener takes at most [`MAX_CONNECTIONS`] at once (more are closed on arrival), a new
//! connection must send its first bytes within [`FIRST_BYTES_TIMEOUT`], and an HTTP request's
//! headers must arrive within [`HEADER_READ_TIMEOUT`] (hyper's own timeout, which also ends
//! idle keep-alive connections).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections one listener serves at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a new connection may stay silent before it is closed.
pub const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an HTTP client may take to send a request's headers (or stay idle between
/// requests on a kept-alive connection).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections while fewer than [`MAX_CONNECTIONS`] are open.
pub struct Gate {
    permits: Arc<Semaphore>,
    protocol: &'static str,
    first_bytes_timeout: Duration,
}

impl Gate {
    pub fn new(protocol: &'static str) -> Self {
        Gate { permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)), protocol, first_bytes_timeout: FIRST_BYTES_TIMEOUT }
    }

    /// The next connection this listener may serve, closed if it stays silent.
    pub async fn accept(&self, listener: &TcpListener) -> io::Result<(Guarded, SocketAddr)> {
        let (stream, permit, peer) = self.admit(listener).await?;
        Ok((Guarded::new(stream, permit, self.first_bytes_timeout), peer))
    }

    /// The next connection this listener may serve, with its place (hold it while serving);
    /// one over the limit is closed at once.
    pub async fn admit(&self, listener: &TcpListener) -> io::Result<(TcpStream, OwnedSemaphorePermit, SocketAddr)> {
        loop {
            let (stream, peer) = listener.accept().await?;
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                tracing::warn!(%peer, protocol = self.protocol, limit = MAX_CONNECTIONS, "too many connections; closing a new one");
                drop(stream);
                continue;
            };
            // Small replies (and each event of a stream) must not wait for delayed ACKs.
            let _ = stream.set_nodelay(true);
            return Ok((stream, permit, peer));
        }
    }
}

/// A connection holding its place under the listener's limit, closed when it sends nothing
/// within [`FIRST_BYTES_TIMEOUT`].
pub struct Guarded {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    /// Until the first byte arrives.
    first_bytes: Option<Pin<Box<Sleep>>>,
}

impl Guarded {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit, first_bytes_timeout: Duration) -> Self {
        Guarded { stream, _permit: permit, first_bytes: Some(Box::pin(tokio::time::sleep_until(Instant::now() + first_bytes_timeout))) }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.first_bytes = None;
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let expired = this.first_bytes.as_mut().is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if expired { Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client sent nothing"))) } else { Poll::Pending }
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Guarded {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn gate(places: usize) -> Gate {
        Gate { permits: Arc::new(Semaphore::new(places)), protocol: "test", first_bytes_timeout: Duration::from_millis(200) }
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_and_a_talking_one_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let gate = gate(4);
        let _silent = TcpStream::connect(addr).await.expect("connect");
        let (mut server_side, _) = gate.accept(&listener).await.expect("accept");
        let mut buf = [0u8; 8];
        let err = server_side.read(&mut buf).await.expect_err("times out");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);

        let mut talking = TcpStream::connect(addr).await.expect("connect");
        let (mut server_side, _) = gate.accept(&listener).await.expect("accept");
        talking.write_all(b"hi").await.expect("write");
        assert_eq!(server_side.read(&mut buf).await.expect("read"), 2);
        // Once it has spoken, a pause is the protocol's business, not this deadline's.
        let read = tokio::time::timeout(Duration::from_millis(600), server_side.read(&mut buf)).await;
        assert!(read.is_err(), "still waiting for the client, not failed");
    }

    #[tokio::test]
    async fn connections_over_the_limit_are_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let gate = gate(1);
        let _first = TcpStream::connect(addr).await.expect("connect");
        let held = gate.accept(&listener).await.expect("accept");
        let accepting = tokio::spawn(async move { gate.accept(&listener).await.map(|(g, _)| g) });
        // A second connection is closed by the gate while the first holds the only place...
        let mut second = TcpStream::connect(addr).await.expect("connect");
        let mut buf = [0u8; 1];
        assert_eq!(second.read(&mut buf).await.expect("closed"), 0);
        // ...and the next gets in once the first is gone.
        drop(held);
        let mut third = TcpStream::connect(addr).await.expect("connect");
        third.write_all(b"x").await.expect("write");
        let mut admitted = accepting.await.expect("join").expect("accept");
        assert_eq!(admitted.read(&mut buf).await.expect("read"), 1);
    }
}
