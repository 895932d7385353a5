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

/// Which cluster a client of these options talks to, as far as the kubeconfig says (read
/// from disk, no request): what a run history keys its measurements on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterIdentity {
    /// The kubeconfig context (`in-cluster` inside a pod without a kubeconfig).
    pub context: String,
    /// The API server's URL, if the kubeconfig names one.
    pub server: Option<String>,
    /// The context's namespace, if it names one.
    pub namespace: Option<String>,
}

/// The cluster of these options: the named or current kubeconfig context, its API server
/// and namespace; inside a pod without a kubeconfig, `in-cluster` and the service address.
/// `None` when neither says (no kubeconfig, no current context, an unknown context).
pub fn cluster_identity(options: &ClientOptions) -> Option<ClusterIdentity> {
    match kube::config::Kubeconfig::read() {
        Ok(kc) => identity_in(&kc, options),
        Err(_) if options.context.is_none() => {
            let host = std::env::var("KUBERNETES_SERVICE_HOST").ok()?;
            let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
            let server = Some(format!("https://{host}:{port}"));
            Some(ClusterIdentity { context: "in-cluster".into(), server, namespace: None })
        }
        Err(_) => None,
    }
}

/// The context of `options` in this kubeconfig.
fn identity_in(kc: &kube::config::Kubeconfig, options: &ClientOptions) -> Option<ClusterIdentity> {
    let name = options.context.clone().or_else(|| kc.current_context.clone())?;
    let context = kc.contexts.iter().find(|c| c.name == name)?.context.as_ref();
    let server = context.and_then(|ctx| {
        let cluster = kc.clusters.iter().find(|c| c.name == ctx.cluster)?;
        cluster.cluster.as_ref()?.server.clone()
    });
    Some(ClusterIdentity { context: name, server, namespace: context.and_then(|c| c.namespace.clone()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_the_contexts_name_server_and_namespace() {
        let yaml = "apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters:\n- name: ca\n  cluster: {server: \
                    'https://127.0.0.1:6443'}\n- name: cb\n  cluster: {server: 'https://10.0.0.1'}\ncontexts:\n- name: \
                    a\n  context: {cluster: ca, user: u}\n- name: b\n  context: {cluster: cb, user: u, namespace: \
                    team}\nusers:\n- name: u\n  user: {token: t}\n";
        let kc = kube::config::Kubeconfig::from_yaml(yaml).unwrap();
        let current = identity_in(&kc, &ClientOptions::default()).unwrap();
        assert_eq!(
            current,
            ClusterIdentity { context: "a".into(), server: Some("https://127.0.0.1:6443".into()), namespace: None }
        );
        let b = identity_in(&kc, &ClientOptions { context: Some("b".into()) }).unwrap();
        assert_eq!((b.server.as_deref(), b.namespace.as_deref()), (Some("https://10.0.0.1"), Some("team")));
        assert_eq!(identity_in(&kc, &ClientOptions { context: Some("nope".into()) }), None);
    }
}
