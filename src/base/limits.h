/*
 * limits.h - part of base.h: every bound on outside input, in one place, each with its reason.
 * Include as "base/base.h" (never <limits.h>: that is the C library's).
 */
#ifndef QUARRY_BASE_LIMITS_H
#define QUARRY_BASE_LIMITS_H

/* JSON and YAML documents --------------------------------------------------------------------- */

/* A manifest is configuration: MarbleRun's largest samples are a few KiB; 200 secrets with PEM user
 * certificates stay under 1 MiB. 4 MiB leaves room and keeps a hostile upload cheap to refuse. */
#define QY_MANIFEST_MAX_SIZE (4u * 1024 * 1024)

/* Manifests nest at most 7 levels (Secrets.x.Cert.Subject.Country[0]); 32 is generous. jansson's own
 * parser stops at 2048, so recursion is bounded before our check runs. */
#define QY_JSON_MAX_DEPTH 32

/* Any other JSON body we parse (API requests, collateral): bodies above this are refused before
 * parsing. Collateral TCB Info for a large FMSPC is ~30 KiB. */
#define QY_JSON_MAX_SIZE (1u * 1024 * 1024)

/* Entries of one JSON object or array in a manifest (marbles, secrets, files, argv...). */
#define QY_MANIFEST_MAX_ENTRIES 4096

/* Names of packages, marbles, secrets, users, roles, TLS tags, env variables; and file paths. Names
 * become store keys and log fields, so they are short. PATH_MAX is 4096 on Linux. */
#define QY_NAME_MAX 256
#define QY_PATH_MAX 4096

/* A JSON path in a diagnostic ("Marbles.web.Parameters.Files./etc/key.pem"). Longer paths are
 * truncated with "..." - they are for people, not for machines. */
#define QY_DIAG_PATH_MAX 512
#define QY_DIAG_MSG_MAX 512
/* A manifest with more problems than this gets the first ones and a note that there are more. */
#define QY_DIAG_MAX 200

/* A certificate in a manifest (users) or a recovery key, as PEM. RSA-16384 certificates are ~5 KiB. */
#define QY_PEM_MAX_SIZE (64u * 1024)

/* Secrets ------------------------------------------------------------------------------------- */

/* Symmetric keys: 8..4096 bits (multiple of 8). Larger keys buy nothing and cost template output. */
#define QY_SYMKEY_MAX_BITS 4096
/* RSA certificate secrets: below 2048 is broken; above 8192 generation takes minutes. */
#define QY_RSA_MIN_BITS 2048
#define QY_RSA_MAX_BITS 8192
/* Certificate validity for generated secrets: at most 100 years of days. */
#define QY_VALID_FOR_MAX_DAYS 36500

/* Files ---------------------------------------------------------------------------------------- */

/* Files read whole (manifests, PEMs, collateral, quotes): nothing we read needs more. */
#define QY_FILE_MAX_SIZE (16u * 1024 * 1024)

/* Attestation (append here) ----------------------------------------------------------------- */

/* A DCAP quote. Real ones are 1-8 KiB (the PCK chain is ~3.6 KiB; callers pad to get_quote_size(),
 * one vector carries 3 KiB of padding); 64 KiB leaves room for longer chains and stays cheap. */
#define QY_ATT_QUOTE_MAX_SIZE (64u * 1024)
/* Certificates in a quote's PEM chain: Intel sends exactly leaf, intermediate, root; a few more are
 * parsed only to say what is wrong, so a hostile chain cannot make us parse hundreds. */
#define QY_ATT_CHAIN_MAX_CERTS 4
/* A TCB Info or QE Identity response body. The largest FMSPC's TDX TCB Info is ~30 KiB; 1 MiB is
 * generous and keeps JSON parsing of a hostile body cheap. */
#define QY_ATT_COLLATERAL_MAX_SIZE (1u * 1024 * 1024)
/* A CRL (PEM, DER or hex). Intel's Processor CA CRL is tens of KiB; 4 MiB allows ~100,000 entries. */
#define QY_ATT_CRL_MAX_SIZE (4u * 1024 * 1024)
/* TCB levels of one TCB Info or QE Identity (Intel publishes ~10-30), TDX module identities
 * (one per module major version), advisory IDs per level (Intel lists at most ~15) and the length
 * of one ("INTEL-SA-00615"). */
#define QY_ATT_TCB_LEVELS_MAX 256
#define QY_ATT_MODULE_IDS_MAX 16
#define QY_ATT_ADVISORIES_MAX 64
/* AcceptedTCBStatuses of a policy: there are eight TCB statuses; 16 leaves room for new ones. */
#define QY_ATT_ACCEPTED_STATUSES_MAX 16
#define QY_ATT_ADVISORY_ID_MAX 32
/* AcceptedAdvisories of a policy file: a policy accepts the advisories its platforms report, which
 * are at most QY_ATT_ADVISORIES_MAX per level; four levels' worth is more than any policy needs. */
#define QY_ATT_ACCEPTED_ADVISORIES_MAX (4 * QY_ATT_ADVISORIES_MAX)
/* Insecure extra trusted roots (emulated testkit roots): a test setup needs one or two. */
#define QY_ATT_EXTRA_ROOTS_MAX 8
/* Verified PCK chains, QE reports and CRL signatures remembered by a verifier: one per platform and
 * a few per collateral item; 4096 platforms is a large fleet, and a full cache is simply emptied. */
#define QY_ATT_CACHE_MAX_ENTRIES 4096
/* Collateral that is stale (verification time past its nextUpdate) or was just fetched is fetched
 * again at most this often, so an old directory or a PCCS serving old items is not asked on every
 * quote. */
#define QY_ATT_REFETCH_SECONDS 10
/* After a failed fetch (the source failed, or what it served failed a check) the item is fetched
 * again after a backoff that starts here and doubles up to the maximum: a dead or hostile PCCS is
 * asked about once a minute per item, and a repaired one is used again within a minute. */
#define QY_ATT_RETRY_BASE_MS 1000
#define QY_ATT_RETRY_MAX_MS 60000
/* A verifier in background mode refreshes an item this long before its nextUpdate, on its own
 * threads, so platforms whose collateral is cached never see it expire while the PCCS answers. Ten
 * minutes is many fetch deadlines and a small part of Intel's ~30-day validity. */
#define QY_ATT_REFRESH_AHEAD_SECONDS 600
/* A source with no Root CA CRL (a 404) is asked again after this long. */
#define QY_ATT_ABSENT_RECHECK_SECONDS 3600
/* Fetcher threads of a background-mode verifier: fetches are network-bound and short, items are
 * few (four per platform, most shared), so a few threads keep several cold platforms moving. */
#define QY_ATT_FETCH_THREADS 4
/* configfs-tsm: how long to wait for the outblob of a report entry (the TDX module answers in
 * milliseconds; a missing provider never does). */
#define QY_ATT_TSM_WAIT_MS 2000
/* Fetching collateral from a PCCS or Intel PCS (libcurl): connect and whole-transfer timeouts,
 * retries of failed transfers (network errors and 5xx), and the size of one response body and of
 * its headers (issuer chains travel URL-encoded in headers, ~6 KiB). A slow PCCS delays only the
 * platforms whose collateral is not cached. */
#define QY_PCCS_CONNECT_TIMEOUT_MS 3000
#define QY_PCCS_TIMEOUT_MS 10000
/* One fetch from a PCCS, all tries and pauses included, ends by this deadline: shorter than the mesh
 * server's 30 s connection timeout, so a blocking caller still gets its answer out. */
#define QY_PCCS_DEADLINE_MS 20000
#define QY_PCCS_RETRIES 2
#define QY_PCCS_RETRY_DELAY_MS 200
#define QY_PCCS_BODY_MAX_SIZE QY_ATT_CRL_MAX_SIZE
#define QY_PCCS_HEADER_MAX_SIZE (64u * 1024)

/* PKI, secrets, templates (append here) ------------------------------------------------------- */

/* A serialised CA (pki_ca_serialize): three certificates and two EC private keys are ~3 KiB; the
 * limit only keeps a hostile or corrupted blob cheap to refuse. */
#define QY_PKI_BLOB_MAX_SIZE (64u * 1024)
/* One certificate or CSR in DER, from outside (a marble's CSR, an uploaded certificate, a stored
 * secret). RSA-8192 certificates with a few SANs are ~2.5 KiB; 32 KiB allows long SAN lists. */
#define QY_CERT_DER_MAX_SIZE (32u * 1024)
/* SANs a marble may request (DNS + IP). Kubernetes injects three DNS names, the premain adds two
 * loopback IPs; 64 is generous and keeps a certificate small. */
#define QY_CSR_MAX_SANS 64
/* A DNS name in a SAN: RFC 1035 caps a name at 253 characters. */
#define QY_DNS_NAME_MAX 253
/* Event-loop threads of one Coordinator server (--client-threads, --mesh-threads): more than a few
 * per core only costs memory. */
#define QY_SERVER_THREADS_MAX 256
/* An activation must be committed within this long of reaching the mesh handler, or it is abandoned
 * before the commit (a retryable 503, nothing counted): the mesh server cuts connections after 30 s,
 * so an answer later than that is lost, and a committed but lost activation spends MaxActivations.
 * 20 s leaves the rest for writing the answer. */
#define QY_MESH_ANSWER_DEADLINE_MS 20000
/* EDG_COORDINATOR_DNS_NAMES: the names in the Coordinator's own certificates (loopback IPs added). */
#define QY_DNS_NAMES_MAX 32
/* SANs, e-mail addresses and URIs of one generated certificate secret (from the manifest). */
#define QY_CERT_MAX_NAMES 256

/* A user-uploaded secret value (plain data, key, certificate, private key), decoded: a plain
 * secret is a password or a config file; 512 KiB is far beyond either and far below a body limit. */
#define QY_USER_SECRET_MAX_SIZE (512u * 1024)
/* A serialised secret set (the sealed store, GET /secrets): QY_MANIFEST_MAX_ENTRIES secrets of a
 * few KiB each (RSA-8192 keys are ~6 KiB in base64) stay far below 64 MiB. */
#define QY_SECRET_SET_MAX_SIZE (64u * 1024 * 1024)
/* Threads generating certificate secrets at once (RSA key generation dominates): more than the
 * machine's cores buys nothing; the cap bounds what a huge manifest can start. */
#define QY_SECRET_MAX_THREADS 16

/* One template (a Files or Env value). Manifest data is already bounded by QY_MANIFEST_MAX_SIZE;
 * a single template above 1 MiB is not configuration. */
#define QY_TPL_MAX_SIZE (1u * 1024 * 1024)
/* Actions in one template, and the nesting of parenthesised pipelines: real templates have a
 * handful of actions and no nesting; the bounds keep parsing linear and recursion shallow. */
#define QY_TPL_MAX_ACTIONS 4096
#define QY_TPL_MAX_DEPTH 16
/* Rendered bytes of one entry, and of all entries of one marble: each action can print a secret of
 * up to QY_USER_SECRET_MAX_SIZE (hex doubles it), so bound the product. */
#define QY_TPL_OUTPUT_MAX_SIZE (4u * 1024 * 1024)
#define QY_TPL_MARBLE_OUTPUT_MAX_SIZE (32u * 1024 * 1024)

/* Store, coordinator, API (append here) ------------------------------------------------------- */

/* Store keys are "<kind>:<name>" with names up to QY_NAME_MAX; values are a manifest (4 MiB), a
 * secret set or a record. A transaction touches at most a manifest's worth of keys. */
#define QY_STORE_KEY_MAX (QY_NAME_MAX + 64)
#define QY_STORE_VALUE_MAX (QY_MANIFEST_MAX_SIZE + 1024 * 1024)
#define QY_STORE_TXN_MAX 65536
/* A group commit reads the rows it replaces before it writes (the state digest needs their MACs) and
 * the backend checks they did not change meanwhile; only another writer of the same store can make
 * that check fail, and a round is retried this often before its transactions fail as conflicts. */
#define QY_STORE_ROUND_RETRIES 8

/* Request bodies: the largest is a manifest upload (base64 of QY_MANIFEST_MAX_SIZE in JSON). */
#define QY_API_BODY_MAX (QY_MANIFEST_MAX_SIZE / 3 * 4 + 64 * 1024)
/* POST /recover: MarbleRun reads at most this much (a secret and a signature, base64). */
#define QY_RECOVER_BODY_MAX 20480
/* GET /quote?nonce=: a nonce is a freshness token, not data; MarbleRun's CLI sends 32 bytes. */
#define QY_NONCE_MAX 256
/* GET /secrets?s=..: names per request (a manifest's worth of secrets would be silly in a URL). */
#define QY_SECRET_QUERY_MAX 256
/* POST /monotonic-counter: a counter's name is a label chosen by the marble's code, not data. */
#define QY_COUNTER_NAME_MAX 1024
/* A counter update is a compare-and-swap on its store key; concurrent writers of one counter retry,
 * and every round lets at least one of them through, so this bounds only pathological contention. */
#define QY_COUNTER_RETRIES 1000
/* Monotonic counters one marble (type and UUID) may create: each is a store row for ever, and a
 * marble's code names them, so a loop could otherwise grow the state without end (5,000 in 5 s
 * were seen). MarbleRun's samples use a handful per marble; 1,000 leaves room for per-file or
 * per-tenant counters. Configurable up to QY_COUNTERS_PER_MARBLE_MAX (--max-counters-per-marble). */
#define QY_COUNTERS_PER_MARBLE_DEFAULT 1000
/* The most a setting may allow: 10^6 rows of ~120 bytes is ~120 MB of state for one marble. */
#define QY_COUNTERS_PER_MARBLE_MAX 1000000

/* HTTP response headers the activation client reads (evhttp sends a few hundred bytes). */
#define QY_HTTP_HEADER_MAX (16u * 1024)

/* Connections the HTTP servers hold at once (--max-connections). Each costs a descriptor and, with
 * TLS, ~50 KiB of buffers; 65536 is 3 GiB of them, more than one Coordinator should ever hold. Below
 * 8 a server can be kept busy by a handful of slow clients. Without a flag, the cap comes from the
 * descriptor limit: QY_FD_RESERVE descriptors stay for the store (SQLite's database, journal and
 * shared memory), standard streams, collateral fetches and files, QY_FD_PER_LOOP for each event
 * loop (as counted in /proc: its epoll, its wake-up eventfd, libevent's signal pipe of two, its
 * descriptor of the listening socket), and the metrics server holds at most
 * QY_METRICS_CONNECTIONS (Prometheus scrapers are few). */
#define QY_SERVER_CONNECTIONS_MAX 65536
#define QY_SERVER_CONNECTIONS_MIN 8
/* A server started without a cap (tests, programs other than the Coordinator). */
#define QY_SERVER_CONNECTIONS_DEFAULT 512
#define QY_FD_RESERVE 64
#define QY_FD_PER_LOOP 5
#define QY_METRICS_CONNECTIONS 16
/* A client has this long, from its connection or from the server's last response to it, to
 * deliver a complete request: TLS handshake, headers and body (--request-timeout). A manifest
 * (the largest body, ~5.6 MiB) takes well under a second on a LAN; a marble needs a handshake and a
 * quote (Gramine's DCAP quote takes tens of milliseconds). Data trickled byte by byte does not
 * extend it. At most an hour. Between bytes, evhttp's idle timeout QY_IDLE_TIMEOUT_SECONDS applies
 * too, also while a response is written. */
#define QY_REQUEST_TIMEOUT_SECONDS 10
#define QY_REQUEST_TIMEOUT_MAX 3600
#define QY_IDLE_TIMEOUT_SECONDS 30
/* accept() failing (out of descriptors or memory) pauses that loop's accepting this long and closes
 * up to QY_ACCEPT_EVICT_BATCH of its connections without a request in progress, so the loop neither
 * spins nor stays locked out; one log line per server and QY_ACCEPT_LOG_SECONDS says so, with the
 * count of errors since the last line. */
#define QY_ACCEPT_PAUSE_MS 50
#define QY_ACCEPT_EVICT_BATCH 16
#define QY_ACCEPT_LOG_SECONDS 10

/* Metric series kept per kind (request and activation label sets); a manifest with more marble
 * types than this folds the rest together rather than growing memory per hostile request. */
#define QY_METRICS_SERIES_MAX 512

/* Responses the clients accept: a manifest, or secrets with certificates. */
#define QY_API_RESPONSE_MAX (16u * 1024 * 1024)

/* Logging --------------------------------------------------------------------------------------- */

/* One log line; longer messages are truncated, never split. */
#define QY_LOG_LINE_MAX 4096
/* Lines about refusals that anyone may cause (an activation needs only a self-signed certificate to
 * be refused, a POST /manifest nothing at all): a burst of 10 is enough to see what goes wrong, then
 * one line a second (about 40 MB a day of ~700-byte lines at worst) with the count of the rest. */
#define QY_LOG_REFUSALS_BURST 10
#define QY_LOG_REFUSALS_PER_MINUTE 60

/* Marble side: quarry-premain and applying an activation -------------------------------------- */

/* Folders one file of an activation may need created: real layouts nest a few levels deep; the
 * bound keeps a hostile path from making the premain create (and track) thousands of folders. */
#define QY_APPLY_MAX_DEPTH 64
/* EDG_MARBLE_UUID_FILE holds one UUID as text (36 characters, or a Go-accepted variant with
 * braces, a URN prefix and a newline); anything larger is not a UUID file. */
#define QY_UUID_FILE_MAX_SIZE 256
/* EDG_MARBLE_DNS_NAMES: the names and IPs a marble asks for in its certificate: what the Coordinator
 * takes in a CSR less the two loopback addresses the premain adds (Kubernetes gives three). */
#define QY_PREMAIN_MAX_NAMES (QY_CSR_MAX_SANS - 2)

#endif
