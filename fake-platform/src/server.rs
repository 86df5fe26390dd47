//! The fake's HTTP/1.1 server: a thread per connection, its requests answered one after
//! another (keep-alive, no pipelining), each read whole before it is handled.
//!
//! Why not `tiny_http` (used until 2026-12-07): its connection pool loses a wake-up when
//! connections arrive together. A connection handed to a thread that was already woken waits in
//! the queue until some thread is free, which is never while workerd keeps its connections
//! open, or up to its idle timeout of 5 s. Six refreshes side by side then took 5.6 s instead
//! of 0.2 (`tests/latency.rs` reproduces it). A thread of its own per connection has no queue.
//!
//! What it reads: a request line, headers, and a body by `Content-Length` or
//! `Transfer-Encoding: chunked`. What it writes: a status, headers and a `Content-Length` body.
//! That is all the worker, the browser tests and the fake's own tests send and expect.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// A request's head may be at most this long (lines and headers together).
const HEAD_LIMIT: usize = 64 * 1024;
/// A request's body may be at most this long (the largest upload in the tests is a few MB).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// A request read whole.
pub struct Request {
    pub method: String,
    /// The request target as sent: path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The client asked to close the connection after this answer.
    fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

/// An answer to write.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A listening server; dropping it stops accepting (connections already open finish on their
/// own threads).
pub struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on `bind` and answers every request with `handle`, on the request's
    /// connection's own thread.
    pub fn start<H>(bind: &str, handle: H) -> io::Result<Self>
    where
        H: Fn(Request) -> Response + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let handle = Arc::new(handle);
        let acceptor = {
            let stopping = stopping.clone();
            thread::Builder::new()
                .name("fake-platform".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stopping.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let handle = handle.clone();
                        let _ = thread::Builder::new()
                            .name("fake-platform-connection".into())
                            .spawn(move || {
                                let _ = connection(stream, &*handle);
                            });
                    }
                })?
        };
        Ok(Self {
            addr,
            stopping,
            acceptor: Some(acceptor),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees it is stopping.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Answers a connection's requests one after another until the client closes it, asks to, or
/// sends something that is not HTTP/1.x (answered `400`, then closed).
fn connection(stream: TcpStream, handle: &dyn Fn(Request) -> Response) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) => {
                let refusal = Response {
                    status: 400,
                    headers: vec![("Content-Type".into(), "text/plain".into())],
                    body: format!("bad request: {e}").into_bytes(),
                };
                write_response(&mut writer, &refusal, true)?;
                return writer.shutdown(Shutdown::Both);
            }
        };
        let closes = request.closes();
        let response = handle(request);
        // The caller may be gone (that is what a kill mid-call looks like from here).
        write_response(&mut writer, &response, closes)?;
        if closes {
            return writer.shutdown(Shutdown::Both);
        }
    }
}

/// The next request, or `None` when the client closed the connection between requests.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut head_bytes = 0;
    let Some(line) = read_line(reader, &mut head_bytes)? else {
        return Ok(None);
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(format!("not a request line: {line:?}")));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(invalid(format!("not a request line: {line:?}")));
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut head_bytes)?
            .ok_or_else(|| invalid("the connection closed inside the head".into()))?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("not a header: {line:?}")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body: Vec::new(),
    };
    request.body = if request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        read_chunked(reader)?
    } else {
        let length = match request.header("content-length") {
            Some(n) => n
                .parse::<usize>()
                .map_err(|_| invalid(format!("Content-Length {n:?}")))?,
            None => 0,
        };
        if length > BODY_LIMIT {
            return Err(invalid(format!("a body of {length} bytes")));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    Ok(Some(request))
}

/// A line without its CRLF (or LF); `None` at the end of the stream before any byte.
fn read_line(reader: &mut impl BufRead, head_bytes: &mut usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let limit = (HEAD_LIMIT + 1).saturating_sub(*head_bytes) as u64;
    let n = reader.take(limit).read_until(b'\n', &mut line)?;
    *head_bytes += n;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(invalid(if *head_bytes > HEAD_LIMIT {
            "a head over 64 KiB".into()
        } else {
            "the connection closed inside a line".into()
        }));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| invalid("a head that is not UTF-8".into()))
}

/// A `Transfer-Encoding: chunked` body, trailers skipped.
fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut head_bytes = 0;
    loop {
        let line = read_line(reader, &mut head_bytes)?
            .ok_or_else(|| invalid("the connection closed inside a chunked body".into()))?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("a chunk size {size:?}")))?;
        if body.len() + size > BODY_LIMIT {
            return Err(invalid("a chunked body over the limit".into()));
        }
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(reader, &mut head_bytes)?
                .ok_or_else(|| invalid("the connection closed inside the trailers".into()))?
                .is_empty()
            {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(invalid("a chunk not followed by CRLF".into()));
        }
        head_bytes = 0;
    }
}

fn write_response(writer: &mut TcpStream, response: &Response, closes: bool) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\n",
        response.status,
        reason(response.status),
        response.body.len()
    );
    for (name, value) in &response.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if closes {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response.body);
    writer.write_all(&bytes)?;
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn read(raw: &str) -> io::Result<Option<Request>> {
        read_request(&mut Cursor::new(raw.as_bytes().to_vec()))
    }

    #[test]
    fn a_request_with_a_length_is_read_whole() {
        let r = read("POST /a.com/token?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhelloEXTRA")
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.target.as_str()),
            ("POST", "/a.com/token?x=1")
        );
        assert_eq!(r.header("HOST"), Some("h"));
        assert_eq!(r.body, b"hello");
        assert!(r.closes());
    }

    #[test]
    fn a_chunked_body_is_joined_and_its_trailers_skipped() {
        let r = read("PUT /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.body, b"abc0123456789");
        assert!(!r.closes());
    }

    #[test]
    fn a_closed_connection_between_requests_is_the_end_not_an_error() {
        assert!(read("").unwrap().is_none());
    }

    #[test]
    fn what_is_not_http_is_refused() {
        for raw in [
            "GET\r\n\r\n",
            "GET /x SPDY/3\r\n\r\n",
            "GET /x HTTP/1.1\r\nno colon\r\n\r\n",
            "POST /x HTTP/1.1\r\nContent-Length: many\r\n\r\n",
            "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
            "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "GET /x HTTP/1.1\r\nHost: h",
        ] {
            assert!(read(raw).is_err(), "{raw:?}");
        }
        let long = format!("GET /x HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(HEAD_LIMIT));
        assert!(read(&long).is_err());
    }
}
