//! A connection's byte stream (TCP or unix socket, plain or TLS) and its read buffer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// A TLS session over one of the others (tls/).
    Tls(Box<crate::tls::TlsStream>),
    /// No socket: the stream of a request its connection has gone on without (its log
    /// phase still waits). Reads find the end, writes fail.
    Detached,
}

fn detached() -> io::Error {
    io::ErrorKind::NotConnected.into()
}

impl Stream {
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read(buf),
            Stream::Unix(s) => s.try_read(buf),
            Stream::Tls(s) => s.try_read(buf),
            Stream::Detached => Ok(0),
        }
    }

    /// Reads into the vector's spare capacity (no zeroing). Without readiness: WouldBlock,
    /// no syscall.
    pub fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read_buf(buf),
            Stream::Unix(s) => s.try_read_buf(buf),
            Stream::Tls(s) => s.try_read_buf(buf),
            Stream::Detached => Ok(0),
        }
    }

    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Unix(s) => s.try_write(buf),
            Stream::Tls(s) => s.try_write(buf),
            Stream::Detached => Err(detached()),
        }
    }

    fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.socket().raw_fd(),
            Stream::Detached => -1,
        }
    }

    /// Whether file bytes can go to the socket with sendfile(2) (not through a TLS
    /// session: they must be encrypted).
    pub fn can_sendfile(&self) -> bool {
        matches!(self, Stream::Tcp(_) | Stream::Unix(_))
    }

    /// One sendfile(2) step when the socket is writable; WouldBlock clears readiness.
    fn try_sendfile(&self, file: &std::fs::File, offset: &mut i64, count: usize) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let (sock, fd) = (self.raw_fd(), file.as_raw_fd());
        let send = || {
            // SAFETY: both fds are open for the duration of the call; offset is our own i64.
            let n = unsafe { libc::sendfile(sock, fd, offset, count) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        };
        match self {
            Stream::Tcp(s) => s.try_io(tokio::io::Interest::WRITABLE, send),
            Stream::Unix(s) => s.try_io(tokio::io::Interest::WRITABLE, send),
            Stream::Tls(_) | Stream::Detached => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    pub async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.writable().await,
            Stream::Unix(s) => s.writable().await,
            Stream::Tls(s) => std::future::poll_fn(|cx| s.poll_write_ready(cx)).await,
            Stream::Detached => Err(detached()),
        }
    }

    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_write_ready(cx),
            Stream::Unix(s) => s.poll_write_ready(cx),
            Stream::Tls(s) => s.poll_write_ready(cx),
            Stream::Detached => Poll::Ready(Err(detached())),
        }
    }

    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_read_ready(cx),
            Stream::Unix(s) => s.poll_read_ready(cx),
            Stream::Tls(s) => s.poll_read_ready(cx),
            Stream::Detached => Poll::Ready(Ok(())),
        }
    }

    /// Ends the writing side (the peer reads the end of the stream; reading goes on).
    pub fn shutdown_write(&self) {
        let r = match self {
            Stream::Tcp(s) => socket2::SockRef::from(s).shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => socket2::SockRef::from(s).shutdown(std::net::Shutdown::Write),
            Stream::Tls(s) => {
                s.shutdown_write();
                Ok(())
            }
            Stream::Detached => Ok(()),
        };
        let _ = r;
    }

    /// The next byte without taking it from the socket (MSG_PEEK): None at the end of the
    /// stream; WouldBlock when nothing has come (a false readiness is cleared).
    pub fn peek_byte(&self) -> io::Result<Option<u8>> {
        let fd = self.raw_fd();
        let peek = || {
            let mut b = 0u8;
            // SAFETY: recv into one byte we own, on our open socket; MSG_PEEK leaves it queued.
            let n = unsafe { libc::recv(fd, (&mut b as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok((n > 0).then_some(b))
            }
        };
        match self {
            Stream::Tcp(s) => s.try_io(tokio::io::Interest::READABLE, peek),
            Stream::Unix(s) => s.try_io(tokio::io::Interest::READABLE, peek),
            Stream::Tls(s) => s.socket().peek_byte(),
            Stream::Detached => Ok(None),
        }
    }

    /// True when bytes (or the end of the stream) wait to be read; a false readiness is
    /// cleared.
    pub fn has_data(&self) -> bool {
        if let Stream::Tls(s) = self
            && s.has_buffered()
        {
            return true;
        }
        !matches!(self.peek_byte(), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Whether the peer has closed its side: a peek finds the end of the stream (None
    /// while nothing is known yet: not readable).
    pub fn peer_closed(&self) -> Option<bool> {
        if let Stream::Tls(s) = self
            && s.has_buffered()
        {
            return Some(false);
        }
        match self.peek_byte() {
            Ok(b) => Some(b.is_none()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            // (a reset connection is closed too)
            Err(_) => Some(true),
        }
    }

    /// Resolves when the peer has closed its side. Bytes it sent (a pipelined request)
    /// cannot be looked past, so then it never resolves, as nginx stops watching.
    pub async fn closed_by_peer(&self) {
        loop {
            if self.readable().await.is_err() {
                return;
            }
            match self.peer_closed() {
                Some(true) => return,
                Some(false) => std::future::pending::<()>().await,
                None => {}
            }
        }
    }

    /// Forgets read readiness without a syscall. After a short read the socket is drained,
    /// so the next read waits for epoll instead of paying for an EAGAIN (nginx does this).
    pub fn clear_read_ready(&self) {
        let would_block = || -> io::Result<()> { Err(io::ErrorKind::WouldBlock.into()) };
        let _ = match self {
            Stream::Tcp(s) => s.try_io(tokio::io::Interest::READABLE, would_block),
            Stream::Unix(s) => s.try_io(tokio::io::Interest::READABLE, would_block),
            Stream::Tls(s) => {
                s.clear_read_ready();
                Ok(())
            }
            Stream::Detached => Ok(()),
        };
    }

    /// Waits until the socket is readable. Through the socket's one reader waker slot
    /// (`poll_read_ready`), not tokio's `readable()` future, which links a waiter into a
    /// list and unlinks it again on every wait: a keepalive connection waits once per
    /// request.
    pub async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Runs `op` until it does not answer WouldBlock, waiting with `ready` between tries
    /// (AsyncRead/AsyncWrite over a TLS session).
    fn poll_op<T>(
        &self,
        cx: &mut Context<'_>,
        ready: fn(&Stream, &mut Context<'_>) -> Poll<io::Result<()>>,
        mut op: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => match ready(self, cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                },
                r => return Poll::Ready(r),
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            this @ Stream::Tls(_) => {
                let Stream::Tls(s) = &*this else { unreachable!() };
                let r = this.poll_op(cx, Stream::poll_read_ready, || s.try_read(buf.initialize_unfilled()));
                r.map_ok(|n| buf.advance(n))
            }
            Stream::Detached => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            this @ Stream::Tls(_) => {
                let Stream::Tls(s) = &*this else { unreachable!() };
                this.poll_op(cx, Stream::poll_write_ready, || s.try_write(buf))
            }
            Stream::Detached => Poll::Ready(Err(detached())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(_) | Stream::Detached => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => {
                s.shutdown_write();
                Poll::Ready(Ok(()))
            }
            Stream::Detached => Poll::Ready(Ok(())),
        }
    }
}

/// The stream plus bytes read but not yet consumed. The buffer is dropped while a keepalive
/// connection idles, so an idle connection holds no buffer memory (nginx does the same).
/// The stream is shared (its methods take `&self`): Lua's `ngx.req.socket` reads and
/// writes the client connection through the same one.
pub struct Io {
    pub stream: std::rc::Rc<Stream>,
    pub buf: Vec<u8>,
    pub pos: usize,
}

#[derive(Debug)]
pub enum ReadError {
    Timeout,
    Closed,
    Io(io::Error),
}

impl Io {
    /// An Io over a stream another holds too (a subrequest's: it never writes).
    pub fn shared(stream: std::rc::Rc<Stream>) -> Io {
        Io {
            stream,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// An Io over no connection (what a request holds once its connection was taken
    /// back): one shared detached stream, so that it costs no allocation.
    pub fn detached() -> Io {
        thread_local! {
            static DETACHED: std::rc::Rc<Stream> = std::rc::Rc::new(Stream::Detached);
        }
        Io::shared(DETACHED.with(std::rc::Rc::clone))
    }

    pub fn new(stream: Stream) -> Io {
        Io {
            stream: std::rc::Rc::new(stream),
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Unconsumed bytes.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    pub fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Gives the buffer back to the pool if it holds nothing (an idle connection).
    pub fn shrink_if_empty(&mut self) {
        if self.pos >= self.buf.len() {
            pool::put(std::mem::take(&mut self.buf));
            self.pos = 0;
        }
    }

    /// Reads more bytes (about `max`) into the buffer, waiting up to `timeout` for them.
    pub async fn fill(&mut self, max: usize, timeout: Duration) -> Result<usize, ReadError> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        if self.buf.capacity() == 0 {
            self.buf = pool::get();
        }
        self.buf.reserve(max.max(1));
        let mut deadline = None;
        loop {
            let spare = self.buf.capacity() - self.buf.len();
            match self.stream.try_read_buf(&mut self.buf) {
                Ok(0) => return Err(ReadError::Closed),
                Ok(n) => {
                    if n < spare {
                        self.stream.clear_read_ready();
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
            let d = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + timeout);
            match tokio::time::timeout_at(d, self.stream.readable()).await {
                Err(_) => return Err(ReadError::Timeout),
                Ok(Err(e)) => return Err(ReadError::Io(e)),
                Ok(Ok(())) => {}
            }
        }
    }

    /// Sends `len` bytes of `file` from `offset` with sendfile(2): no copy through us.
    /// Gives up when no progress is made for `timeout`.
    pub async fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
        timeout: Duration,
    ) -> io::Result<()> {
        let mut off = offset as i64;
        let end = offset + len;
        while (off as u64) < end {
            let count = ((end - off as u64) as usize).min(1 << 30);
            match self.stream.try_sendfile(file, &mut off, count) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file was truncated")),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match tokio::time::timeout(timeout, self.stream.writable()).await {
                Ok(r) => r?,
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
            }
        }
        Ok(())
    }

    /// Writes all of `data`, giving up when no progress is made for `timeout`.
    /// `timeout` bounds each wait for the socket to take more, not the whole transfer
    /// (nginx's send_timeout: "between two successive write operations").
    pub async fn write_all(&mut self, mut data: &[u8], timeout: Duration) -> io::Result<()> {
        // most responses fit the socket buffer: no timer unless the write would block
        while !data.is_empty() {
            match self.stream.try_write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match tokio::time::timeout(timeout, self.stream.writable()).await {
                        Ok(r) => r?,
                        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn set_int_option(fd: std::os::fd::RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads an int we own, of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// IP_TRANSPARENT (IPV6_TRANSPARENT): the socket may bind an address that is not the
/// host's (`proxy_bind $remote_addr transparent`; needs CAP_NET_ADMIN).
pub fn set_transparent(socket: &tokio::net::TcpSocket, v4: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (level, name) = if v4 {
        (libc::IPPROTO_IP, libc::IP_TRANSPARENT)
    } else {
        (libc::IPPROTO_IPV6, libc::IPV6_TRANSPARENT)
    };
    set_int_option(socket.as_raw_fd(), level, name)
}

/// IP_BIND_ADDRESS_NO_PORT: a bind without a port leaves the port to the connect.
pub fn set_bind_no_port(socket: &tokio::net::TcpSocket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    set_int_option(socket.as_raw_fd(), libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT)
}

/// A worker-local pool of I/O buffers: busy connections borrow one, idle ones hold none,
/// and the allocator is not asked for a fresh 4 KiB buffer on every request.
pub mod pool {
    use crate::spare::Spares;

    /// The size of the buffers kept (a connection's read buffer, a cosocket's default).
    const SIZE: usize = 4096;

    thread_local! {
        static FREE: Spares<Vec<u8>> = const { Spares::new(32) };
    }

    /// A kept buffer, or a new one of the pool's size.
    pub fn get() -> Vec<u8> {
        spare().unwrap_or_else(|| Vec::with_capacity(SIZE))
    }

    /// A kept buffer, if there is one.
    pub fn spare() -> Option<Vec<u8>> {
        FREE.with(|f| f.take())
    }

    /// Returns a buffer; odd-sized or surplus ones are simply freed (as are those given
    /// back while the thread ends).
    pub fn put(mut v: Vec<u8>) {
        if v.capacity() != SIZE {
            return;
        }
        v.clear();
        let _ = FREE.try_with(|f| f.give(v));
    }
}
