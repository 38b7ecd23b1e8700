//! Where the remote server is and how long a call may take: what the user chose.

use std::time::Duration;

use crate::error::{Error, Result};

/// The environment variable that holds the server's access token, if it needs one. It is read
/// when the connection opens and sent as `authorization: Bearer <token>`; it is never written to
/// a project file, a report or a log.
pub const TOKEN_ENV: &str = "PROMPTREEL_SERVER_TOKEN";

/// How long one graph call may take before it is abandoned, unless the user says otherwise: a
/// real-size Wan 14B denoiser step with guidance takes about a minute on one H100, a VAE decode
/// of 81 frames a few minutes.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(600);

/// A remote inference server (Triton, or any KServe v2 server) chosen by the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerConfig {
    /// `http://host:port` or `https://host:port` (the gRPC port: Triton's is 8001).
    url: String,
    /// The longest one graph call may take.
    pub call_timeout: Duration,
}

impl ServerConfig {
    /// Checks an address as the user typed it. A bare `host:port` means plain `http://`.
    pub fn parse(address: &str) -> Result<Self> {
        let trimmed = address.trim().trim_end_matches('/');
        if trimmed.is_empty() {
            return Err(Error::setting(
                "the remote device needs a server address, e.g. http://gpu-server:8001 (the \
                 Server parameter, or --server on the command line)",
            ));
        }
        let url = if trimmed.contains("://") {
            trimmed.to_string()
        } else {
            format!("http://{trimmed}")
        };
        let bad = |why: &str| {
            Error::setting(format!(
                "server address {address:?} {why}; write it as http://host:port (Triton's gRPC \
                 port is 8001) or https://host:port"
            ))
        };
        let rest = if let Some(r) = url.strip_prefix("http://") {
            r
        } else if let Some(r) = url.strip_prefix("https://") {
            r
        } else {
            return Err(bad("is neither http:// nor https://"));
        };
        let host_port = rest.split('/').next().unwrap_or_default();
        if host_port.is_empty() {
            return Err(bad("has no host"));
        }
        if rest.contains('/') {
            return Err(bad(
                "has a path; gRPC servers are addressed by host and port only",
            ));
        }
        if host_port.contains('@') {
            return Err(bad(
                "holds a user name or password; give the token in the PROMPTREEL_SERVER_TOKEN \
                 environment variable instead",
            ));
        }
        if let Some((_, port)) = host_port.rsplit_once(':')
            && !host_port.ends_with(']')
            && port.parse::<u16>().is_err()
        {
            return Err(bad("has a port that is not a number from 1 to 65535"));
        }
        if tonic::transport::Endpoint::from_shared(url.clone()).is_err() {
            return Err(bad("is not a valid address"));
        }
        Ok(Self {
            url,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        })
    }

    /// The same server with another call timeout.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Result<Self> {
        if timeout.is_zero() {
            return Err(Error::setting(
                "the server call timeout must be more than 0 seconds",
            ));
        }
        self.call_timeout = timeout;
        Ok(self)
    }

    /// The address, normalised (`http://host:port`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.url.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_in_words() {
        assert_eq!(
            ServerConfig::parse("gpu-box:8001").unwrap().url(),
            "http://gpu-box:8001"
        );
        assert_eq!(
            ServerConfig::parse(" https://triton.studio.lan:443/ ")
                .unwrap()
                .url(),
            "https://triton.studio.lan:443"
        );
        assert!(ServerConfig::parse("https://triton:443").unwrap().is_tls());
        for (bad, says) in [
            ("", "needs a server address"),
            ("ftp://x:1", "neither http"),
            ("http://x:1/v2/models", "has a path"),
            ("http://user:secret@x:1", "PROMPTREEL_SERVER_TOKEN"),
            ("http://x:port", "not a number"),
            ("http://x:70000", "not a number"),
        ] {
            let e = ServerConfig::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        let e = ServerConfig::parse("x:1")
            .unwrap()
            .with_call_timeout(Duration::ZERO)
            .unwrap_err();
        assert!(e.to_string().contains("more than 0"));
    }
}
