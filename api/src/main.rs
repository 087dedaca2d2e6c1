//! `enkaku`: the server and the auditor's tools in one binary.

mod audit_command;
mod sqlite_memory;

use anyhow::Context;
use audit_command::AuditCommand;
use clap::{Parser, Subcommand};
use enkaku_api::routes::webhooks::TWILIO_STATUS_PATH;
use enkaku_api::serve::{self, ConnectionLimits};
use enkaku_api::{Application, Config, DeliveryConfig, Stack};
use enkaku_commands::delivery::{Lease, RetryPolicy};
use enkaku_commands::ports::EventStore;
use enkaku_commands::sealing;
use enkaku_domain::appointment::{DEFAULT_SENDS_PER_HOUR, SendPolicy};
use enkaku_domain::values::Provider;
use enkaku_domain::values::SmsCountries;
use enkaku_infra::bootstrap;
use enkaku_infra::channels::Route;
use enkaku_infra::kafka::KafkaConfig;
use enkaku_infra::mail::{SmtpConfig, SmtpSender};
use enkaku_infra::setup_links::SetupLinks;
use enkaku_infra::twilio::{TwilioAuth, TwilioConfig, TwilioFrom, TwilioSender};
use enkaku_infra::vault::MasterKey;
use enkaku_media::ice_servers::{DEFAULT_TURN_TTL, IceServers};
use enkaku_media::ports::PortRange;
use enkaku_media::relay::RelayConfig;
use secrecy::SecretString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than the system allocator: the server and a replay allocate small objects
/// on several threads at once, where glibc's allocator took a fifth of a replay's time in its
/// locks and free-list upkeep (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "enkaku",
    version,
    about = "Video consultations for patients without an account"
)]
struct Cli {
    /// Where the embedded database and the link key live.
    #[arg(long, global = true, env = "ENKAKU_DATA_DIR", default_value = "./enkaku-data")]
    data_dir: PathBuf,
    /// `postgres://…` puts the event store and read models on PostgreSQL.
    #[arg(long, global = true, env = "ENKAKU_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Hex master key (32 bytes) that wraps the keys sealing patients' personal data; by
    /// default a key file created in the data directory. Every node of one database needs
    /// the same.
    #[arg(long, global = true, env = "ENKAKU_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// Hex Ed25519 seed (32 bytes) that signs the audit checkpoints; by default a key file
    /// created in the data directory (docs/audit.md: keep a copy, rotate it there).
    #[arg(long, global = true, env = "ENKAKU_AUDIT_SIGNING_KEY", hide_env_values = true)]
    audit_signing_key: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Box<ServeArgs>),
    /// Create or update the database schema, then exit.
    Migrate,
    /// Drop every read model and rebuild it from the event store; or, with `--until` and
    /// `--into`, build the read models as they stood at a past moment into a file of their
    /// own, touching nothing live.
    Replay(ReplayArgs),
    /// Print events as JSON lines: one stream's history, or the global log.
    Events(EventsArgs),
    /// Set up a clinic.
    #[command(subcommand)]
    Clinic(ClinicCommand),
    /// Patients' personal data in the event log (docs/privacy.md).
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// The master key that wraps the data keys of personal data.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The audit trail: signed checkpoints, verification, the access log (docs/audit.md).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print the AsyncAPI 3 document of the Kafka topics (docs/asyncapi.yaml).
    Asyncapi {
        #[arg(long, env = "ENKAKU_KAFKA_TOPIC", default_value = enkaku_infra::kafka::DEFAULT_TOPIC)]
        topic: String,
        #[arg(long, env = "ENKAKU_KAFKA_SETUP_TOPIC", default_value = enkaku_infra::kafka::DEFAULT_SETUP_TOPIC)]
        setup_topic: String,
        #[arg(long, env = "ENKAKU_KAFKA_CHECKPOINT_TOPIC", default_value = enkaku_infra::kafka::DEFAULT_CHECKPOINT_TOPIC)]
        checkpoint_topic: String,
    },
}

#[derive(Subcommand)]
enum PrivacyCommand {
    /// Seal the personal data of events written before it was sealed (dropping it where the
    /// appointment was erased), in place, recording each rewrite in `event_rewrites`. Safe to
    /// run again; run it with the servers stopped, then start them.
    Migrate,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-wrap every data key under a new master key, then (where the current key is the data
    /// directory's key file) put the new key in that file. Run it with the servers stopped,
    /// then start them with the new key. Safe to run again.
    Rotate {
        /// The new master key, 32 bytes as hex (`openssl rand -hex 32`).
        #[arg(long, env = "ENKAKU_NEW_MASTER_KEY", hide_env_values = true)]
        new_master_key: String,
    },
}

#[derive(Subcommand)]
enum ClinicCommand {
    /// Create a clinic and its first administrator, and print the one-time set-up URL (valid
    /// 24 h) where that person chooses a password.
    Create(ClinicCreateArgs),
}

#[derive(clap::Args)]
struct ClinicCreateArgs {
    /// The clinic's name as staff and patients see it.
    #[arg(long)]
    name: String,
    /// The first administrator's e-mail address: their login.
    #[arg(long)]
    admin_email: String,
    /// The first administrator's name.
    #[arg(long, default_value = "管理者")]
    admin_name: String,
    /// The clinic's IANA time zone.
    #[arg(long, default_value = "Asia/Tokyo")]
    time_zone: String,
    /// Base of the set-up URL, as for `serve`.
    #[arg(long, env = "ENKAKU_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    public_url: String,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, env = "ENKAKU_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Base of the URLs given to clinics and patients, e.g. `https://clinic.example.jp`.
    #[arg(long, env = "ENKAKU_PUBLIC_URL")]
    public_url: Option<String>,
    /// Hex key (≥ 32 bytes) behind the capability links.
    #[arg(long, env = "ENKAKU_LINK_SECRET", hide_env_values = true)]
    link_secret: Option<String>,
    /// Minutes a staff session may go unused before it ends (beside its absolute 12 hours).
    #[arg(long, env = "ENKAKU_SESSION_IDLE_MINUTES", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=720))]
    session_idle_minutes: u32,
    /// Do not seed the demo clinics.
    #[arg(long, env = "ENKAKU_NO_DEMO")]
    no_demo: bool,
    /// Erase patients' personal data this many days after their appointment ended or was
    /// cancelled (docs/privacy.md); kept without limit when not given.
    #[arg(long, env = "ENKAKU_PII_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=36500))]
    pii_retention_days: Option<u32>,
    /// Minutes between the signed checkpoints of the logs the server writes to the data
    /// directory's `checkpoints/` (docs/audit.md).
    #[arg(long, env = "ENKAKU_AUDIT_CHECKPOINT_MINUTES", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1440))]
    audit_checkpoint_minutes: u32,
    /// Remove access-log records this many days old (whole ranges from the oldest, behind
    /// a signed pruning checkpoint; docs/audit.md); kept forever when not given.
    #[arg(long, env = "ENKAKU_ACCESS_LOG_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=36500))]
    access_log_retention_days: Option<u32>,
    /// Append personal data unsealed, to measure what sealing costs (`scripts/bench`).
    #[arg(long, hide = true)]
    bench_plaintext_personal_data: bool,
    /// Write no access log, to measure what it costs (`scripts/bench`).
    #[arg(long, hide = true)]
    bench_without_access_log: bool,
    /// Take client addresses from X-Forwarded-For (only behind a trusted proxy).
    #[arg(long, env = "ENKAKU_TRUST_FORWARDED")]
    trust_forwarded: bool,
    /// Kafka bootstrap servers, e.g. `127.0.0.1:9092`: publish every event there and feed
    /// the read models and reactors from it. Without it, the store's own log feeds them.
    #[arg(long, env = "ENKAKU_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// The topic the appointments' events are published to (created if missing).
    #[arg(long, env = "ENKAKU_KAFKA_TOPIC", default_value = enkaku_infra::kafka::DEFAULT_TOPIC)]
    kafka_topic: String,
    /// The topic the clinic set-up's events are published to (created if missing).
    #[arg(long, env = "ENKAKU_KAFKA_SETUP_TOPIC", default_value = enkaku_infra::kafka::DEFAULT_SETUP_TOPIC)]
    kafka_setup_topic: String,
    /// The topic the signed audit checkpoints are published to (created if missing).
    #[arg(long, env = "ENKAKU_KAFKA_CHECKPOINT_TOPIC", default_value = enkaku_infra::kafka::DEFAULT_CHECKPOINT_TOPIC)]
    kafka_checkpoint_topic: String,
    /// Partitions of each topic when enkaku creates it.
    #[arg(long, env = "ENKAKU_KAFKA_PARTITIONS", default_value_t = 3)]
    kafka_partitions: i32,
    /// Consumers' client ids are `<prefix><consumer>`.
    #[arg(long, env = "ENKAKU_KAFKA_CLIENT_PREFIX", default_value = "enkaku.")]
    kafka_client_prefix: String,
    /// Countries whose mobile numbers may get the patient URL by SMS: ISO 3166 region codes,
    /// comma-separated (`JP,GB`). Anything else is refused, against SMS-pumping fraud.
    #[arg(long, env = "ENKAKU_SMS_COUNTRIES", default_value = "JP")]
    sms_countries: SmsCountries,
    /// Sends of one appointment's patient URL (first send and resends) allowed within an
    /// hour; beyond it, 429 `send_limited` with `Retry-After`.
    #[arg(long, env = "ENKAKU_SENDS_PER_HOUR", default_value_t = DEFAULT_SENDS_PER_HOUR,
          value_parser = clap::value_parser!(u32).range(1..))]
    sends_per_hour: u32,
    /// Connections served at once; the last tenth is kept for health checks and logged-in
    /// staff. Default: the open-file limit less the media relay's sockets, less a quarter (at
    /// least 256) for everything else.
    #[arg(long, env = "ENKAKU_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Seconds a client has to send a request's head, and to start the next request on a
    /// kept-alive connection.
    #[arg(long, env = "ENKAKU_HEADER_TIMEOUT", default_value_t = serve::DEFAULT_HEADER_TIMEOUT.as_secs())]
    header_timeout: u64,
    /// The address the media relay offers browsers as its ICE host candidate: one they can
    /// reach (behind NAT, the public one).
    #[arg(long, env = "ENKAKU_MEDIA_ADDR", default_value = "127.0.0.1")]
    media_addr: std::net::IpAddr,
    /// The UDP ports the media relay binds, `first-last`: one per participant in a call, so
    /// the range is how many can be in calls at once. A firewall in front opens them.
    #[arg(long, env = "ENKAKU_MEDIA_PORTS", default_value = "50000-50999")]
    media_ports: PortRange,
    /// STUN servers browsers use to learn their public address, comma-separated
    /// (`stun:stun.example.jp:3478`).
    #[arg(long, env = "ENKAKU_MEDIA_STUN", value_delimiter = ',')]
    stun: Vec<String>,
    /// TURN servers for browsers that cannot reach the relay directly (strict NAT, UDP
    /// blocked), comma-separated (`turn:turn.example.jp:3478,turns:turn.example.jp:5349`).
    /// Each page gets credentials of its own, minted from the shared secret.
    #[arg(long, env = "ENKAKU_MEDIA_TURN", value_delimiter = ',')]
    turn: Vec<String>,
    /// The secret shared with the TURN servers (coturn `static-auth-secret`). Prefer the
    /// environment or `--turn-secret-file`: a command line is visible to every local user.
    #[arg(
        long,
        env = "ENKAKU_MEDIA_TURN_SECRET",
        hide_env_values = true,
        conflicts_with = "turn_secret_file"
    )]
    turn_secret: Option<String>,
    /// A file holding the TURN secret instead, read once at start.
    #[arg(long, env = "ENKAKU_MEDIA_TURN_SECRET_FILE")]
    turn_secret_file: Option<PathBuf>,
    /// Seconds a page's TURN credential stays valid for new allocations.
    #[arg(long, env = "ENKAKU_MEDIA_TURN_TTL", default_value_t = DEFAULT_TURN_TTL.as_secs(),
          value_parser = clap::value_parser!(u64).range(60..=86_400))]
    turn_ttl: u64,
    #[command(flatten)]
    delivery: DeliveryArgs,
}

/// Where patient links go out. Each channel is configured on its own; one that is not keeps
/// its messages in the outbox (送信ボックス) for staff to read, sending nothing.
#[derive(clap::Args)]
struct DeliveryArgs {
    /// Twilio account SID (`AC…`): with a credential and a sender, SMS goes through Twilio.
    #[arg(long, env = "ENKAKU_TWILIO_ACCOUNT_SID")]
    twilio_account_sid: Option<String>,
    /// The account's auth token. Also verifies Twilio's delivery-status callbacks, which are
    /// off without it.
    #[arg(long, env = "ENKAKU_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    twilio_auth_token: Option<String>,
    /// An API key (`SK…`) to send with instead of the auth token.
    #[arg(long, env = "ENKAKU_TWILIO_API_KEY_SID", requires = "twilio_api_key_secret")]
    twilio_api_key_sid: Option<String>,
    #[arg(
        long,
        env = "ENKAKU_TWILIO_API_KEY_SECRET",
        hide_env_values = true,
        requires = "twilio_api_key_sid"
    )]
    twilio_api_key_secret: Option<String>,
    /// The sending number, E.164 (`+81…`).
    #[arg(
        long,
        env = "ENKAKU_TWILIO_FROM",
        conflicts_with = "twilio_messaging_service_sid"
    )]
    twilio_from: Option<String>,
    /// A messaging service (`MG…`) to send from instead of a number.
    #[arg(long, env = "ENKAKU_TWILIO_MESSAGING_SERVICE_SID")]
    twilio_messaging_service_sid: Option<String>,
    /// Twilio's REST API (a local stand-in in tests).
    #[arg(
        long,
        env = "ENKAKU_TWILIO_BASE_URL",
        default_value = enkaku_infra::twilio::DEFAULT_BASE_URL
    )]
    twilio_base_url: String,
    /// The SMTP server in lettre's URL form: `smtp://user:pass@host:587?tls=required`,
    /// `smtps://user:pass@host`, `smtp://127.0.0.1:2525` (no TLS: local relays only).
    #[arg(long, env = "ENKAKU_SMTP_URL", hide_env_values = true, requires = "mail_from")]
    smtp_url: Option<String>,
    /// The e-mail's sender address; the clinic's name is its display name.
    #[arg(long, env = "ENKAKU_MAIL_FROM", requires = "smtp_url")]
    mail_from: Option<String>,
    /// Seconds a provider has to answer one message. Without an answer by then the outcome
    /// is unknown (「送信結果不明」) and staff decide whether to resend.
    #[arg(long, env = "ENKAKU_DELIVERY_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    delivery_timeout: u64,
}

impl DeliveryArgs {
    /// The channels configured, checked: half a configuration stops the start rather than
    /// silently keeping messages in the outbox.
    fn config(&self, public_url: Option<&str>) -> anyhow::Result<DeliveryConfig> {
        let timeout = Duration::from_secs(self.delivery_timeout);
        let auth_token = self.twilio_auth_token.clone().map(SecretString::from);
        let sms = match &self.twilio_account_sid {
            None => {
                anyhow::ensure!(
                    auth_token.is_none()
                        && self.twilio_api_key_sid.is_none()
                        && self.twilio_from.is_none()
                        && self.twilio_messaging_service_sid.is_none(),
                    "Twilio settings were given without ENKAKU_TWILIO_ACCOUNT_SID"
                );
                None
            }
            Some(account_sid) => {
                let auth = match (&self.twilio_api_key_sid, &self.twilio_api_key_secret, &auth_token) {
                    (Some(sid), Some(secret), _) => TwilioAuth::ApiKey {
                        sid: sid.clone(),
                        secret: SecretString::from(secret.clone()),
                    },
                    (_, _, Some(token)) => TwilioAuth::AuthToken(token.clone()),
                    _ => anyhow::bail!(
                        "Twilio needs ENKAKU_TWILIO_AUTH_TOKEN, or ENKAKU_TWILIO_API_KEY_SID and ENKAKU_TWILIO_API_KEY_SECRET"
                    ),
                };
                let sender = match (&self.twilio_from, &self.twilio_messaging_service_sid) {
                    (Some(number), None) => TwilioFrom::Number(number.clone()),
                    (None, Some(service)) => TwilioFrom::MessagingService(service.clone()),
                    _ => anyhow::bail!(
                        "Twilio needs one sender: ENKAKU_TWILIO_FROM or ENKAKU_TWILIO_MESSAGING_SERVICE_SID"
                    ),
                };
                // Twilio calls back only where it can reach us and we can check its signature.
                let status_callback = match (&auth_token, public_url) {
                    (Some(_), Some(base)) => {
                        Some(format!("{}{TWILIO_STATUS_PATH}", base.trim_end_matches('/')))
                    }
                    _ => None,
                };
                let sender = TwilioSender::new(TwilioConfig {
                    account_sid: account_sid.clone(),
                    auth,
                    sender,
                    base_url: self.twilio_base_url.clone(),
                    status_callback,
                    timeout,
                })
                .context("the Twilio configuration is not usable")?;
                Some(Route {
                    provider: Provider::Twilio,
                    sender: std::sync::Arc::new(sender),
                })
            }
        };
        let email = match (&self.smtp_url, &self.mail_from) {
            (Some(url), Some(from)) => {
                let sender = SmtpSender::new(SmtpConfig {
                    url: SecretString::from(url.clone()),
                    from: from.clone(),
                    timeout,
                })
                .context("the SMTP configuration is not usable")?;
                Some(Route {
                    provider: Provider::Smtp,
                    sender: std::sync::Arc::new(sender),
                })
            }
            _ => None,
        };
        Ok(DeliveryConfig {
            twilio_auth_token: auth_token
                .filter(|_| sms.is_some() && public_url.is_some())
                .map(std::sync::Arc::new),
            sms,
            email,
            // The channel's own timeout answers first; the lease is the backstop.
            lease: Lease {
                attempt: timeout + Duration::from_secs(5),
            },
            retry: RetryPolicy::default(),
        })
    }
}

impl ServeArgs {
    fn kafka(&self) -> Option<KafkaConfig> {
        self.kafka_brokers.as_ref().map(|brokers| KafkaConfig {
            topic: self.kafka_topic.clone(),
            setup_topic: self.kafka_setup_topic.clone(),
            checkpoint_topic: self.kafka_checkpoint_topic.clone(),
            partitions: self.kafka_partitions,
            client_prefix: self.kafka_client_prefix.clone(),
            ..KafkaConfig::new(brokers)
        })
    }

    /// The STUN and TURN servers for pages, checked: a configuration browsers cannot use
    /// stops the start.
    fn ice_servers(&self) -> anyhow::Result<IceServers> {
        let secret = match (&self.turn_secret, &self.turn_secret_file) {
            (Some(secret), _) => Some(secret.trim().to_owned()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the TURN secret from {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let listed = |urls: &[String]| -> Vec<String> {
            urls.iter()
                .map(|url| url.trim().to_owned())
                .filter(|url| !url.is_empty())
                .collect()
        };
        Ok(IceServers::new(
            listed(&self.stun),
            listed(&self.turn),
            secret.map(SecretString::from),
            Duration::from_secs(self.turn_ttl),
        )?)
    }

    /// The connection limits, sized to `open_files` beside the media relay's sockets unless
    /// configured; an error when the two do not fit together.
    fn connections(&self, open_files: u64) -> Result<ConnectionLimits, String> {
        let mut limits =
            serve::share_open_files(open_files, self.max_connections, self.media_ports.descriptors())?;
        limits.header_timeout = Duration::from_secs(self.header_timeout.max(1));
        Ok(limits)
    }
}

/// A moment of the log: a position, or a time (RFC 3339), which stands for the last position
/// committed at or before it in the log's own order.
#[derive(Clone, Copy, Debug)]
enum Until {
    Position(u64),
    Time(chrono::DateTime<chrono::Utc>),
}

impl std::str::FromStr for Until {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Ok(position) = text.parse() {
            return Ok(Self::Position(position));
        }
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|time| Self::Time(time.to_utc()))
            .map_err(|_| "a position (1234) or a time with its offset (2026-12-03T10:00:00+09:00)".to_owned())
    }
}

impl Until {
    /// The position it stands for, never past the log's end: a replay reports what it read.
    async fn position(self, stack: &Stack) -> anyhow::Result<u64> {
        match self {
            Self::Position(position) => Ok(position.min(*stack.store.head().borrow())),
            Self::Time(time) => Ok(enkaku_infra::event_store::position_at(&stack.db, time).await?),
        }
    }
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The moment to rebuild: a position of the global log, or a time (RFC 3339).
    #[arg(long, requires = "into")]
    until: Option<Until>,
    /// A new folder for the past's read models (the SQLite file `read-models.db` in it).
    #[arg(long, requires = "until")]
    into: Option<PathBuf>,
}

#[derive(clap::Args)]
struct EventsArgs {
    /// An appointment id, or a full stream id (`clinic-<id>`, `menu-<id>`, …): print its
    /// history (who changed a clinic's staff or a menu, and when, for set-up streams).
    #[arg(long)]
    stream: Option<String>,
    /// Print the global log from after this position.
    #[arg(long, default_value_t = 0)]
    after: u64,
    /// Keep printing new events as they are committed.
    #[arg(long, conflicts_with = "until")]
    follow: bool,
    /// Print the global log only up to this moment: a position, or a time (RFC 3339).
    #[arg(long)]
    until: Option<Until>,
    /// Print personal data sealed, as the store holds it, instead of opened.
    #[arg(long)]
    sealed: bool,
}

/// What is logged unless `ENKAKU_LOG` says otherwise. webrtc-rs warns on every join that
/// its ICE agent has no candidate pair yet and its DTLS no server name: both normal while
/// candidates are trickled, so an operator would learn to ignore the log.
const DEFAULT_LOG: &str = "info,rtc_ice::agent=error,rtc_dtls::config=error";

/// Crates that talk to providers for us, held at `warn` whatever `ENKAKU_LOG` asks: at debug
/// and trace the HTTP client and its connection layers log requests, headers and bodies —
/// a patient's phone number, e-mail address and link. lettre is built without logging.
const CAPPED_LOGS: [&str; 6] = ["reqwest", "hyper", "hyper_util", "h2", "rustls", "lettre"];

fn init_tracing() {
    let mut filter = EnvFilter::try_from_env("ENKAKU_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG));
    for target in CAPPED_LOGS {
        if let Ok(directive) = format!("{target}=warn").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("ENKAKU_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    if let Err(refused) = sqlite_memory::use_the_binary_allocator() {
        tracing::warn!("{refused}");
    }
    let cli = Cli::parse();
    let command = cli
        .command
        .unwrap_or(Command::Serve(Box::new(ServeArgs::parse_default())));
    let config = |serve: &ServeArgs| Config {
        addr: serve.addr,
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        public_url: serve.public_url.clone(),
        link_secret: serve.link_secret.clone(),
        master_key: cli.master_key.clone(),
        seal_personal_data: !serve.bench_plaintext_personal_data,
        record_access: !serve.bench_without_access_log,
        seed_demo: !serve.no_demo,
        trust_forwarded: serve.trust_forwarded,
        kafka: serve.kafka(),
        send_policy: SendPolicy {
            sms_countries: serve.sms_countries.clone(),
            sends_per_hour: serve.sends_per_hour,
        },
        // Subcommands other than `serve` open no connections: the default limits do.
        connections: ConnectionLimits::default(),
        media: RelayConfig {
            addr: serve.media_addr,
            ports: Some(serve.media_ports),
        },
        // Only serving uses them (and checks them).
        ice_servers: IceServers::default(),
        delivery: DeliveryConfig::default(),
        session_idle: chrono::Duration::minutes(i64::from(serve.session_idle_minutes)),
        pii_retention: serve
            .pii_retention_days
            .map(|days| chrono::Duration::days(i64::from(days))),
        audit_signing_key: cli.audit_signing_key.clone(),
        audit_checkpoint_every: Duration::from_secs(60 * u64::from(serve.audit_checkpoint_minutes)),
        access_log_retention: serve
            .access_log_retention_days
            .map(|days| chrono::Duration::days(i64::from(days))),
    };
    match command {
        Command::Serve(serve) => {
            // Idle connections and the relay's sockets hold descriptors: take all the system
            // allows, then share it out, or stop here rather than fail under load.
            let open_files = serve::raise_open_files_limit();
            let config = Config {
                connections: serve.connections(open_files).map_err(anyhow::Error::msg)?,
                ice_servers: serve.ice_servers()?,
                delivery: serve.delivery.config(serve.public_url.as_deref())?,
                ..config(&serve)
            };
            tracing::info!(
                open_files,
                max_connections = config.connections.max_connections,
                media_ports = %serve.media_ports,
                "open-file limit"
            );
            serve_until_signal(config).await
        }
        Command::Asyncapi {
            topic,
            setup_topic,
            checkpoint_topic,
        } => {
            print!(
                "{}",
                enkaku_api::asyncapi_yaml(&topic, &setup_topic, &checkpoint_topic)?
            );
            Ok(())
        }
        Command::Migrate => {
            Stack::open(&config(&ServeArgs::parse_default())).await?;
            eprintln!("schema is up to date");
            Ok(())
        }
        Command::Replay(args) => replay(&config(&ServeArgs::parse_default()), args).await,
        Command::Clinic(ClinicCommand::Create(args)) => {
            create_clinic(&config(&ServeArgs::parse_default()), args).await
        }
        Command::Events(args) => events(&config(&ServeArgs::parse_default()), args).await,
        Command::Keys(KeysCommand::Rotate { new_master_key }) => {
            let config = config(&ServeArgs::parse_default());
            let stack = Stack::open(&config).await?;
            let old = MasterKey::load(config.master_key.as_deref(), &config.data_dir)?;
            let new = MasterKey::from_hex(&new_master_key)?;
            let rewrapped = enkaku_infra::vault::rotate(&stack.db, &old, &new).await?;
            println!(
                "re-wrapped {rewrapped} data keys from {} under {}",
                old.id(),
                new.id()
            );
            if config.master_key.is_none() {
                MasterKey::replace_file(&config.data_dir, &new_master_key)?;
                println!("the data directory's master.key now holds {}", new.id());
            } else {
                println!("start the servers with ENKAKU_MASTER_KEY set to the new key");
            }
            Ok(())
        }
        // Exit 1: the logs are not what was stored and signed; 2: the check could not be made.
        Command::Audit(command) => {
            match audit_command::run(&config(&ServeArgs::parse_default()), command).await {
                Ok(true) => Ok(()),
                Ok(false) => std::process::exit(1),
                Err(e) => {
                    eprintln!("Error: {e:#}");
                    std::process::exit(2)
                }
            }
        }
        Command::Privacy(PrivacyCommand::Migrate) => {
            let stack = Stack::open(&config(&ServeArgs::parse_default())).await?;
            let migrated =
                enkaku_infra::privacy::migrate(&stack.db, stack.store.as_ref(), stack.vault.as_ref()).await?;
            println!(
                "sealed the personal data of {} events; dropped it from {} events of erased appointments",
                migrated.sealed, migrated.dropped
            );
            Ok(())
        }
    }
}

impl ServeArgs {
    /// Serve options from the environment alone, for subcommands that only need the store.
    fn parse_default() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Only::parse_from(["enkaku"]).serve
    }
}

async fn serve_until_signal(config: Config) -> anyhow::Result<()> {
    let demo = config.seed_demo;
    let app = Application::build(config).await?;
    println!("enkaku is running at {}", app.public_url());
    if demo {
        println!(
            "open {}/ in a browser; log in with yamada@demo.enkaku.test / demo-password",
            app.public_url()
        );
    } else if !bootstrap::has_clinics(&app.state().db).await? {
        println!(
            "no clinic yet: create one with `enkaku clinic create --name NAME --admin-email EMAIL` \
             (same data directory or database), then open the set-up URL it prints"
        );
    }
    std::io::stdout().flush()?;
    app.run_until(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}

async fn create_clinic(config: &Config, args: ClinicCreateArgs) -> anyhow::Result<()> {
    let stack = Stack::open(config).await?;
    let created = bootstrap::create_clinic(
        &stack.setup,
        &stack.credentials,
        &bootstrap::NewClinic {
            name: &args.name,
            time_zone: &args.time_zone,
            admin_name: &args.admin_name,
            admin_email: &args.admin_email,
        },
    )
    .await?;
    // Shown at once by a server on the same store: its set-up page reads the directory.
    stack.directory_projection.catch_up(&|_| {}).await?;
    let link = SetupLinks::new(stack.db.clone())
        .issue(created.admin, created.clinic, chrono::Utc::now())
        .await?;
    println!(
        "created the clinic {} and its administrator {}",
        created.clinic,
        args.admin_email.trim()
    );
    println!(
        "set-up URL (give it to them only; it works once, until {}):",
        link.valid_until.to_rfc3339()
    );
    println!("{}/setup/{}", args.public_url.trim_end_matches('/'), link.token);
    Ok(())
}

/// A progress bar of events up to `len` on stderr.
fn progress_bar(len: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

async fn replay(config: &Config, args: ReplayArgs) -> anyhow::Result<()> {
    let stack = Stack::open(config).await?;
    if let (Some(until), Some(into)) = (args.until, args.into) {
        return replay_past(&stack, until, &into).await;
    }
    let head = *stack.store.head().borrow();
    let bar = progress_bar(head);
    let applied = stack.rebuild(&|position| bar.set_position(position)).await?;
    bar.finish();
    let projectors = enkaku_projections::all().len();
    println!(
        "rebuilt the directory and {projectors} read models from {head} events ({applied} applications)"
    );
    Ok(())
}

/// The file `enkaku replay --into` writes in its folder.
const PAST_READ_MODELS: &str = "read-models.db";

async fn replay_past(stack: &Stack, until: Until, into: &std::path::Path) -> anyhow::Result<()> {
    let position = until.position(stack).await?;
    enkaku_infra::data_dir::prepare(into).with_context(|| format!("cannot create {}", into.display()))?;
    let file = into.join(PAST_READ_MODELS);
    anyhow::ensure!(
        !file.exists(),
        "{} exists already: replay into a new folder",
        file.display()
    );
    // Built under a name of its own and renamed once whole, so the file's name always stands
    // for a finished replay (what an earlier, stopped one left is started over).
    let partial = into.join(format!("{PAST_READ_MODELS}.partial"));
    if partial.exists() {
        std::fs::remove_file(&partial).with_context(|| format!("cannot remove {}", partial.display()))?;
    }
    let past = enkaku_infra::Db::connect_scratch(&partial).await?;
    let started = std::time::Instant::now();
    let bar = progress_bar(position);
    let applied = stack
        .replay_into(position, &past, &|at| bar.set_position(at))
        .await?;
    bar.finish_and_clear();
    past.close().await;
    std::fs::rename(&partial, &file).with_context(|| format!("cannot name {}", file.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "until_position": position,
            "into": file,
            "applications": applied,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "events_per_second": (position as f64 / seconds.max(1e-9)).round(),
        })
    );
    Ok(())
}

async fn events(config: &Config, args: EventsArgs) -> anyhow::Result<()> {
    let stack = Stack::open(config).await?;
    let mut out = std::io::stdout().lock();
    if let Some(stream) = args.stream {
        // A bare id is an appointment's; a full stream id (`clinic-…`, `menu-…`) is taken as is.
        let stream_id = if stream.parse::<uuid::Uuid>().is_ok() {
            format!("appointment-{stream}")
        } else {
            stream
        };
        let mut events = stack.store.read_stream(&stream_id).await?;
        if !args.sealed {
            sealing::open_stream(stack.vault.as_ref(), &mut events).await?;
        }
        for event in events {
            writeln!(out, "{}", serde_json::to_string(&event)?)?;
        }
        return Ok(());
    }
    let mut after = args.after;
    let mut head = stack.store.head();
    let until = match args.until {
        Some(until) => until.position(&stack).await?,
        None => u64::MAX,
    };
    loop {
        let mut batch = stack
            .store
            .read_all(after, 1000)
            .await
            .context("reading the global log")?;
        batch.retain(|event| event.position <= until);
        if !args.sealed {
            sealing::open(stack.vault.as_ref(), batch.iter_mut()).await?;
        }
        for event in &batch {
            writeln!(out, "{}", serde_json::to_string(event)?)?;
            after = event.position;
        }
        out.flush()?;
        if batch.is_empty() {
            if !args.follow {
                return Ok(());
            }
            // Another process appends: the head of this one does not move, so poll too.
            tokio::select! {
                _ = head.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
}
