//! One connection to a KServe v2 server, shared by every graph of every model that uses it.
//!
//! Calls run on a small tokio runtime of the connection's own; the generating thread waits for
//! the answer in short slices and asks its observer between slices whether to stop, so a long
//! call on the server can be cancelled from the host's progress bar. Every graph call is
//! idempotent (the server keeps nothing between calls), so a call that met a dropped connection
//! is sent again, a bounded number of times.

use std::future::Future;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Response, Status};

use super::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use super::server::{ServerConfig, TOKEN_ENV};
use crate::control::Observer;
use crate::error::{Error, ErrorKind, Result};

type Grpc = GrpcInferenceServiceClient<Channel>;

/// The largest message either way: Triton's own gRPC limit (2 GiB). Tonic's default of 4 MiB
/// would refuse a single Wan latent.
pub(crate) const MAX_MESSAGE: usize = i32::MAX as usize;

/// How long opening the connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a health or metadata check may take.
pub(crate) const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a waiting call asks whether to cancel.
const POLL: Duration = Duration::from_millis(50);

/// Tries per call when the connection drops (the first try included), and the pause before
/// each retry.
pub(crate) const ATTEMPTS: usize = 3;
const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];

/// Why a call did not answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The server (or the transport) answered with a status.
    Status(Status),
    /// No answer within the time allowed.
    Timeout(Duration),
    /// The observer asked to stop.
    Cancelled,
}

impl Failure {
    /// Whether sending the same call again may succeed: the connection dropped or the server
    /// was briefly unavailable. Every graph call is idempotent, so resending is safe.
    fn retryable(&self) -> bool {
        match self {
            Failure::Status(s) => {
                s.code() == Code::Unavailable
                    || (matches!(s.code(), Code::Unknown | Code::Internal)
                        && is_transport(s.message()))
            }
            _ => false,
        }
    }
}

fn is_transport(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "transport",
        "connection",
        "broken pipe",
        "h2 protocol",
        "stream closed",
        "reset",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// A connection to one server.
pub(crate) struct Client {
    config: ServerConfig,
    grpc: Grpc,
    token: Option<MetadataValue<Ascii>>,
    // NOTE: last, so the channel above is dropped before the runtime that drives it.
    rt: tokio::runtime::Runtime,
}

/// The open connections, by server; a connection closes when its last graph is dropped.
type Open = Mutex<Vec<(ServerConfig, Weak<Client>)>>;

fn clients() -> &'static Open {
    static CLIENTS: OnceLock<Open> = OnceLock::new();
    CLIENTS.get_or_init(Default::default)
}

/// The open connection to `config`'s server, opened (and health-checked) if none is.
pub(crate) fn connect(config: &ServerConfig) -> Result<Arc<Client>> {
    let mut open = clients().lock();
    open.retain(|(_, c)| c.strong_count() > 0);
    if let Some(c) = open
        .iter()
        .filter(|(k, _)| k == config)
        .find_map(|(_, c)| c.upgrade())
    {
        return Ok(c);
    }
    let client = Arc::new(Client::open(config)?);
    open.push((config.clone(), Arc::downgrade(&client)));
    Ok(client)
}

fn token_from_env() -> Result<Option<MetadataValue<Ascii>>> {
    let Some(raw) = std::env::var_os(TOKEN_ENV) else {
        return Ok(None);
    };
    let text = raw.to_str().map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Ok(None);
    }
    format!("Bearer {text}").parse().map(Some).map_err(|_| {
        Error::setting(format!(
            "the token in {TOKEN_ENV} holds characters an HTTP header cannot carry; copy the \
             token again without spaces or line breaks"
        ))
    })
}

impl Client {
    fn open(config: &ServerConfig) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("promptreel-grpc")
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Server,
                    format!("could not start the network thread for the remote server: {e}"),
                )
            })?;
        let bad_address = |e: tonic::transport::Error| {
            Error::setting(format!(
                "server address {} cannot be used: {e}",
                config.url()
            ))
        };
        let mut endpoint = Endpoint::from_shared(config.url().to_string())
            .map_err(bad_address)?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true);
        if config.is_tls() {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_native_roots())
                .map_err(bad_address)?;
        }
        // NOTE: lazy: the first call connects, and a dropped connection reconnects on the next.
        let channel = {
            let _inside = rt.enter();
            endpoint.connect_lazy()
        };
        let grpc = Grpc::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let client = Self {
            config: config.clone(),
            grpc,
            token: token_from_env()?,
            rt,
        };
        client.check_ready()?;
        Ok(client)
    }

    /// The server's address.
    pub fn url(&self) -> &str {
        self.config.url()
    }

    fn check_ready(&self) -> Result<()> {
        let what = "the readiness check";
        let ready = self
            .call(
                CHECK_TIMEOUT,
                &mut || false,
                |mut g, r| async move { g.server_ready(r).await },
                super::proto::ServerReadyRequest {},
            )
            .map_err(|f| self.failure(f, what, 1, 0))?;
        if !ready.ready {
            return Err(Error::new(
                ErrorKind::Server,
                format!(
                    "the server at {} answers but is not ready for inference yet (it may still \
                     be loading models); try again in a moment",
                    self.url()
                ),
            ));
        }
        Ok(())
    }

    /// One call, waited for in slices so `cancel` can stop it; `timeout` bounds it.
    pub(crate) fn call<Req, T, F, Fut>(
        &self,
        timeout: Duration,
        cancel: &mut dyn FnMut() -> bool,
        make: F,
        message: Req,
    ) -> std::result::Result<T, Failure>
    where
        F: FnOnce(Grpc, Request<Req>) -> Fut,
        Fut: Future<Output = std::result::Result<Response<T>, Status>> + Send + 'static,
        T: Send + 'static,
    {
        let mut request = Request::new(message);
        request.set_timeout(timeout);
        if let Some(token) = &self.token {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        let call = make(self.grpc.clone(), request);
        let (tx, rx) = mpsc::channel();
        let task = self.rt.spawn(async move {
            let answer = tokio::time::timeout(timeout, call).await;
            let _ = tx.send(answer);
        });
        loop {
            match rx.recv_timeout(POLL) {
                Ok(Ok(answer)) => {
                    return answer.map(Response::into_inner).map_err(|s| {
                        // tonic ends a call past the deadline it sent with CANCELLED
                        // "Timeout expired"; the server may say DEADLINE_EXCEEDED.
                        let expired = s.code() == Code::DeadlineExceeded
                            || (s.code() == Code::Cancelled && s.message().contains("Timeout"));
                        if expired {
                            Failure::Timeout(timeout)
                        } else {
                            Failure::Status(s)
                        }
                    });
                }
                Ok(Err(_elapsed)) => return Err(Failure::Timeout(timeout)),
                Err(RecvTimeoutError::Timeout) => {
                    if cancel() {
                        task.abort();
                        return Err(Failure::Cancelled);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Failure::Status(Status::internal(
                        "the network thread ended the call without an answer",
                    )));
                }
            }
        }
    }

    /// A call sent again (at most [`ATTEMPTS`] tries in all) while the connection drops.
    /// `message` is cloned per try; the tensors in it are shared bytes, not copies.
    pub(crate) fn call_with_retries<Req, T, F, Fut>(
        &self,
        what: &str,
        bytes: usize,
        mut observer: Option<&mut dyn Observer>,
        make: F,
        message: Req,
    ) -> Result<T>
    where
        Req: Clone,
        F: Fn(Grpc, Request<Req>) -> Fut,
        Fut: Future<Output = std::result::Result<Response<T>, Status>> + Send + 'static,
        T: Send + 'static,
    {
        let mut cancel = || observer.as_deref_mut().is_some_and(|o| o.should_cancel());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = self.call(
                self.config.call_timeout,
                &mut cancel,
                &make,
                message.clone(),
            );
            match answer {
                Ok(t) => return Ok(t),
                Err(f) if f.retryable() && attempt < ATTEMPTS => {
                    let pause = BACKOFF[(attempt - 1).min(BACKOFF.len() - 1)];
                    let until = Instant::now() + pause;
                    while Instant::now() < until {
                        std::thread::sleep(POLL);
                        if cancel() {
                            return Err(Error::cancelled());
                        }
                    }
                }
                Err(f) => return Err(self.failure(f, what, attempt, bytes)),
            }
        }
    }

    /// A failed call as a sentence for the user: what was being done, on which server, why,
    /// and what to do about it.
    pub(crate) fn failure(&self, f: Failure, what: &str, attempts: usize, bytes: usize) -> Error {
        let url = self.url();
        let status = match f {
            Failure::Cancelled => return Error::cancelled(),
            Failure::Timeout(t) => {
                return Error::new(
                    ErrorKind::Server,
                    format!(
                        "the server at {url} did not answer {what} within {} s; it may be busy \
                         with other work, or the clip too large for it. Allow longer calls \
                         (--server-timeout), or lower Frames or Resolution",
                        t.as_secs()
                    ),
                );
            }
            Failure::Status(s) => s,
        };
        let said = status.message().trim().to_string();
        let message = match status.code() {
            Code::Unavailable if attempts > 1 => format!(
                "lost the connection to the server at {url} during {what}, and it did not come \
                 back after {attempts} tries ({said}). Check that the server is still running \
                 and reachable; nothing from this generation was kept"
            ),
            Code::Unavailable => format!(
                "cannot reach the server at {url} ({said}). Check that it is running and that \
                 the address and port are right (Triton's gRPC port is 8001)"
            ),
            Code::Unknown | Code::Internal if is_transport(&said) => format!(
                "lost the connection to the server at {url} during {what}, and it did not come \
                 back after {attempts} tries ({said}). Check that the server is still running; \
                 nothing from this generation was kept"
            ),
            Code::ResourceExhausted => format!(
                "the server at {url} refused {what} as too large ({said}). The call carries \
                 {:.1} MiB: if that is over the server's message limit, raise it (Triton allows \
                 2 GiB; MLServer's grpc_max_message_length); if the server ran out of memory, \
                 lower Frames or Resolution",
                bytes as f64 / (1024.0 * 1024.0)
            ),
            Code::Unauthenticated | Code::PermissionDenied => format!(
                "the server at {url} refused access ({said}): set {TOKEN_ENV} to a token it \
                 accepts"
            ),
            Code::NotFound => format!(
                "the server at {url} does not have what {what} needs ({said}); write this \
                 package's model repository with `promptreel triton-repo PACKAGE OUT` and load \
                 it on the server"
            ),
            Code::InvalidArgument => format!(
                "the server at {url} rejected the inputs of {what} ({said}); the model it holds \
                 under that name may not be this package's graph: write the repository again \
                 with `promptreel triton-repo` and reload it"
            ),
            code => format!("the server at {url} failed {what} ({code:?}: {said})"),
        };
        Error::new(ErrorKind::Server, message).with_cause(status)
    }
}
