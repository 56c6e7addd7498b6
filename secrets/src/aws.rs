//! AWS Secrets Manager (and API-compatible servers such as moto).

use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_secretsmanager::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::Client;
use zeroize::Zeroizing;

use crate::value::{check_value, validate_name};
use crate::{Secret, SecretStore, SecretValue, SecretsError};

/// How to reach AWS Secrets Manager.
#[derive(Clone, Default)]
pub struct AwsOptions {
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Endpoint override (a local emulator, a VPC endpoint); `None` for AWS.
    pub endpoint: Option<String>,
    /// Prefix added to every secret name (e.g. `palisade/`).
    pub prefix: String,
    /// Static credentials (access key id, secret key); `None` uses the
    /// standard AWS chain (environment, profile, instance role).
    pub credentials: Option<(String, Zeroizing<String>)>,
    /// Per-operation timeout (default 10 s).
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for AwsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsOptions")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("prefix", &self.prefix)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// AWS Secrets Manager: each secret a Secrets Manager secret (binary value),
/// versions are its version ids.
#[derive(Debug)]
pub struct AwsSecretsManager {
    client: Client,
    address: String,
    prefix: String,
}

impl AwsSecretsManager {
    /// Builds the client (no request is sent yet).
    pub async fn connect(options: &AwsOptions) -> Result<Self, SecretsError> {
        if options.region.is_empty() {
            return Err(SecretsError::InvalidUrl {
                url: "aws-sm://".into(),
                reason: "a region is required (aws-sm://REGION)".into(),
            });
        }
        let timeout = options.timeout.unwrap_or(Duration::from_secs(10));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(options.region.clone()))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(timeout)
                    .connect_timeout(Duration::from_secs(3))
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2));
        if let Some(e) = &options.endpoint {
            loader = loader.endpoint_url(e);
        }
        if let Some((id, secret)) = &options.credentials {
            loader = loader.credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                id,
                secret.as_str(),
                None,
                None,
                "palisade-static",
            )));
        }
        let config = loader.load().await;
        Ok(Self {
            client: Client::new(&config),
            address: options
                .endpoint
                .clone()
                .unwrap_or_else(|| format!("secretsmanager.{}", options.region)),
            prefix: options.prefix.clone(),
        })
    }

    fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn err<E: std::error::Error + 'static, R: std::fmt::Debug>(
        &self,
        e: SdkError<E, R>,
    ) -> SecretsError {
        SecretsError::Backend {
            backend: "aws-secrets-manager",
            address: self.address.clone(),
            message: DisplayErrorContext(&e).to_string(),
        }
    }
}

#[async_trait::async_trait]
impl SecretStore for AwsSecretsManager {
    fn describe(&self) -> String {
        format!(
            "aws-secrets-manager at {} (prefix `{}`)",
            self.address, self.prefix
        )
    }

    async fn put(&self, name: &str, value: SecretValue) -> Result<String, SecretsError> {
        validate_name(name)?;
        check_value(&value)?;
        let id = self.full(name);
        let blob = || Blob::new(value.expose().to_vec());
        match self
            .client
            .create_secret()
            .name(&id)
            .secret_binary(blob())
            .send()
            .await
        {
            Ok(out) => return Ok(out.version_id().unwrap_or_default().to_owned()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_exists_exception()) => {}
            Err(e) => return Err(self.err(e)),
        }
        let out = self
            .client
            .put_secret_value()
            .secret_id(&id)
            .secret_binary(blob())
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(out.version_id().unwrap_or_default().to_owned())
    }

    async fn get(&self, name: &str, version: Option<&str>) -> Result<Secret, SecretsError> {
        validate_name(name)?;
        let not_found = || SecretsError::NotFound {
            name: name.to_owned(),
            version: version.map(str::to_owned),
        };
        let mut req = self.client.get_secret_value().secret_id(self.full(name));
        if let Some(v) = version {
            req = req.version_id(v);
        }
        let out = match req.send().await {
            Ok(o) => o,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Err(not_found())
            }
            Err(e) => return Err(self.err(e)),
        };
        let bytes = if let Some(b) = out.secret_binary() {
            b.as_ref().to_vec()
        } else if let Some(s) = out.secret_string() {
            s.as_bytes().to_vec()
        } else {
            return Err(not_found());
        };
        Ok(Secret {
            name: name.to_owned(),
            version: out.version_id().unwrap_or_default().to_owned(),
            value: SecretValue::new(bytes),
        })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, SecretsError> {
        let full_prefix = self.full(prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..1000 {
            let page = self
                .client
                .list_secrets()
                .max_results(100)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| self.err(e))?;
            for s in page.secret_list() {
                if s.deleted_date().is_some() {
                    continue;
                }
                if let Some(n) = s.name().filter(|n| n.starts_with(&full_prefix)) {
                    out.push(n[self.prefix.len()..].to_owned());
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    async fn delete(&self, name: &str) -> Result<(), SecretsError> {
        validate_name(name)?;
        // Deleting a missing secret is not an error for every server: ask first.
        let not_found = || SecretsError::NotFound {
            name: name.to_owned(),
            version: None,
        };
        match self
            .client
            .describe_secret()
            .secret_id(self.full(name))
            .send()
            .await
        {
            Ok(d) if d.deleted_date().is_some() => return Err(not_found()),
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Err(not_found())
            }
            Err(e) => return Err(self.err(e)),
        }
        match self
            .client
            .delete_secret()
            .secret_id(self.full(name))
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Err(SecretsError::NotFound {
                    name: name.to_owned(),
                    version: None,
                })
            }
            Err(e) => Err(self.err(e)),
        }
    }
}
