//! A client the kube-rs way: `KUBECONFIG`, `~/.kube/config` or in-cluster, with an optional
//! context.

use kube::Client;
use kube::config::{Config, KubeConfigOptions};

use crate::error::{Error, Result};

/// Which cluster and context to talk to.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// A kubeconfig context other than the current one.
    pub context: Option<String>,
}

/// A client and its default namespace (the context's, or `default`).
pub async fn connect(options: &ClientOptions) -> Result<Client> {
    // One TLS crypto provider for the whole process (the AWS SDK's, aws-lc-rs): rustls
    // cannot choose on its own when a build links more than one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = match &options.context {
        None => Config::infer().await.map_err(|e| Error::Config(Box::new(e)))?,
        Some(context) => {
            let kc = KubeConfigOptions { context: Some(context.clone()), ..Default::default() };
            Config::from_kubeconfig(&kc).await.map_err(|e| Error::Config(Box::new(e)))?
        }
    };
    Client::try_from(with_user_agent(config)).map_err(|e| Error::Config(Box::new(e)))
}

/// The User-Agent of cnd's requests, `cnd/<version>`: what tells them apart in the API
/// server's audit log (tests/k8s-scale.sh counts them by verb).
pub const USER_AGENT: &str = concat!("cnd/", env!("CARGO_PKG_VERSION"));

fn with_user_agent(mut config: Config) -> Config {
    config.headers.push((http::header::USER_AGENT, http::HeaderValue::from_static(USER_AGENT)));
    config
}
