/*
 * api - everything that touches the network: the Coordinator's HTTPS servers (client REST API,
 * mesh API, metrics) on libevent, and the HTTPS clients on libcurl (the CLI's client, the premain's
 * activation, fetching collateral from a PCCS). It speaks the wire formats and turns them into calls
 * of the coordinator and attestation components; it holds no policy of its own. On the marble side it
 * also applies what an activation returned (files, environment), for quarry-premain and for programs
 * that activate in-process.
 *
 * Sections below belong to their parts; each part lives in its own .c file.
 */
#ifndef QUARRY_API_API_H
#define QUARRY_API_API_H

#include "base/base.h"

enum api_method { API_GET = 1, API_POST = 2, API_OTHER = 4 };

/* HTTP client (libcurl): collateral from a PCCS or Intel PCS ---------------------------------- */

/*
 * GET with Quarry's bounds (http_client.c): connect and total timeouts, a body size limit, a header
 * size limit, and a few retries with back-off on network errors, 429 and 5xx (never on other 4xx),
 * all within one overall deadline. http and https only, no redirects. Named response headers are captured (case-insensitive names).
 * Thread-safe: every call uses its own handle.
 */
#define API_HTTP_MAX_CAPTURE 4

struct api_http_get {
    const char *url;
    const char *const *capture; /* header names to keep, at most API_HTTP_MAX_CAPTURE */
    size_t capture_count;
    const char *ca_file;           /* NULL: the system's CA store */
    bool insecure_skip_tls_verify; /* a self-signed PCCS (Intel's default install): INSECURE */
    long connect_timeout_ms, timeout_ms; /* per try; 0: the QY_PCCS_* defaults */
    long deadline_ms;              /* the whole call, all tries; 0: QY_PCCS_DEADLINE_MS */
    int retries;                   /* < 0: none; 0: QY_PCCS_RETRIES */
    size_t max_body;               /* 0: QY_PCCS_BODY_MAX_SIZE */
};

struct api_http_result {
    long status;
    struct buf body;
    struct buf headers[API_HTTP_MAX_CAPTURE]; /* values of `capture` in its order, or empty */
};

/* 0 with out->status set for any HTTP answer (the caller judges the status); ERR_NETWORK or
 * ERR_TIMEOUT when no answer came after the retries; ERR_TOO_LARGE over the limits. `out` (empty on
 * entry) is owned by the caller: api_http_result_free. */
QY_API int api_http_get(const struct api_http_get *req, struct api_http_result *out) QY_MUST_USE;
QY_API void api_http_result_free(struct api_http_result *r);

/*
 * A collateral source over a PCCS or Intel PCS (pccs.c), for attestation's verifier:
 *   TCB Info     GET {base}/{sgx|tdx}/certification/v4/tcb?fmspc=HEX      (TCB-Info-Issuer-Chain)
 *   QE Identity  GET {base}/{sgx|tdx}/certification/v4/qe/identity
 *                (SGX-Enclave-Identity-Issuer-Chain)
 *   PCK CRL      GET {base}/sgx/certification/v4/pckcrl?ca=processor|platform&encoding=der
 *   Root CA CRL  GET {base}/sgx/certification/v4/rootcacrl, or root_ca_crl_url (a 404 means none)
 * Issuer chains come URL-encoded in the response headers. The verifier checks and caches what this
 * returns: collateral integrity rests on Intel's signatures, not on TLS, so http:// is acceptable and
 * ca_file (a PEM bundle replacing the system's CA store; a self-signed PCCS's own certificate pins
 * it) only keeps others on the path from withholding or replaying collateral.
 */
struct att_collateral_source;

struct api_pccs_config {
    const char *base_url; /* "https://pccs.local:8081", "https://api.trustedservices.intel.com" */
    const char *root_ca_crl_url; /* NULL: {base}/sgx/certification/v4/rootcacrl */
    const char *ca_file;  /* trust only these CAs for https (copied); NULL: the system's */
    bool insecure_skip_tls_verify;
    long timeout_ms;  /* per try; 0: QY_PCCS_TIMEOUT_MS */
    long deadline_ms; /* one fetch, all tries; 0: QY_PCCS_DEADLINE_MS */
    int retries;      /* < 0: none; 0: QY_PCCS_RETRIES */
};

/* Returns an owned source (att_collateral_source_free, or hand it to att_verifier_new). */
QY_API int api_pccs_source_new(const struct api_pccs_config *cfg, struct att_collateral_source **out)
    QY_MUST_USE;

/* HTTPS client (libcurl): the CLI's calls to the Coordinator ---------------------------------- */

/* A client for one Coordinator address. It trusts the server only through `ca_pem` (the Coordinator
 * root the caller verified with a quote) unless `insecure` is set (used once, to fetch the quote).
 * TLS 1.3; optional client certificate (a user). Responses above QY_API_RESPONSE_MAX are refused. */
struct api_client_config {
    const char *address;  /* "host:port" */
    struct view ca_pem;   /* the Coordinator root (PEM): only a server certificate it issued itself is
                           * accepted, not one further down its chain; ignored when insecure */
    bool insecure;        /* do not verify the server (only to fetch its quote) */
    struct view cert_pem; /* optional client certificate chain (PEM) */
    struct view key_pem;  /* its private key (PEM) */
    long timeout_ms;      /* whole request; 0 = 30 s */
    long connect_timeout_ms; /* TCP connect and TLS handshake; 0 = 10 s */
};

struct api_client;

QY_API int api_client_new(const struct api_client_config *cfg, struct api_client **out) QY_MUST_USE;
QY_API void api_client_free(struct api_client *c);
/* One request. `target` is the path with query ("/api/v2/status"). The response body is appended to
 * out and the HTTP status stored in *status. Transport failures return ERR_NETWORK (or ERR_TIMEOUT)
 * with curl's reason; any HTTP status is a successful call. */
QY_API int api_client_call(struct api_client *c, enum api_method method, const char *target,
                           struct view body, long *status, struct buf *out) QY_MUST_USE;

/* Verifying a Coordinator (verify_coordinator.c): what the CLI and quarry-premain do first ------ */

struct att_verifier;
struct att_policy;

/* Where a verifier of a Coordinator's quote gets collateral: the PCCS/PCS at pccs_url, else the
 * directory collateral_dir (Intel PCS layout); insecure_extra_root_file (PEM, optional) is trusted
 * besides Intel's root (the testkit's). All borrowed. */
struct api_verifier_spec {
    const char *pccs_url;
    const char *collateral_dir;
    const char *insecure_extra_root_file;
};

/* Returns an owned verifier (att_verifier_free). ERR_INVALID_ARG without a collateral source. */
QY_API int api_verifier_new(const struct api_verifier_spec *s, struct att_verifier **out) QY_MUST_USE;

struct api_attest_config {
    const char *address;             /* the Coordinator's client API, "host:port" */
    struct att_verifier *verifier;   /* borrowed; thread-safe, may be shared */
    const struct att_policy *policy; /* borrowed: the package the Coordinator must be */
    bool insecure_skip_verify;       /* take the root without checking the quote (quarry --insecure) */
    long timeout_ms;                 /* the request; 0: 30 s */
};

/*
 * Fetches the Coordinator's quote over a fresh 32-byte nonce (GET /api/v2/quote?nonce=, the server
 * not verified), verifies it at the current time, checks that its report data is SHA-256(root
 * certificate DER || nonce) for the last certificate of the answer's chain, applies the policy
 * (att_policy_check: TCB status, advisories, Debug, UniqueID, SignerID, ProductID,
 * SecurityVersion), and appends that root certificate to `root_pem`, as PEM encoded from the DER the
 * quote covers. ERR_NETWORK or ERR_TIMEOUT when the Coordinator cannot be reached, ERR_UNAVAILABLE
 * when it answers another status than 200 (all worth retrying); ERR_ATTESTATION with the reason
 * when the answer is malformed, holds no quote, or the quote does not verify, bind or meet the
 * policy.
 */
QY_API int api_attest_coordinator(const struct api_attest_config *cfg, struct buf *root_pem) QY_MUST_USE;

/* Activation client: what quarry-premain (and programs activating in-process) call ------------- */

/*
 * Activates this process as a marble (docs/mesh-protocol.md): generates a P-256 key in memory and a
 * self-signed bootstrap certificate on it, connects to the Coordinator's mesh API with TLS 1.3 using
 * that certificate, binds a quote to the key and to this TLS session (report data = SHA-256(
 * "quarry-activation-v1" || SHA-256(SPKI) || TLS exporter)), sends the CSR and the quote, and fills
 * the private-key holes of the returned parameters locally: the key never leaves the process.
 * While the Coordinator is unreachable or not yet accepting marbles it retries with capped
 * exponential backoff; a refusal ends it at once with the Coordinator's reason (ERR_POLICY etc.),
 * and so does a quote source that cannot make a quote (ERR_ATTESTATION: not in its TEE).
 *
 * Which Coordinator. By default any server at the address is taken for the Coordinator, as in
 * MarbleRun (the quote stays bound to that connection, so it cannot be relayed, but that server
 * chooses the marble's files, environment and argv). With ca_pem the marble talks only to a server
 * whose certificate the Coordinator root issued directly - the Coordinator's own servers; every
 * marble and secret certificate is issued by the intermediate, one level further down - and ends
 * with ERR_ATT_UNTRUSTED, before anything is sent, when it meets another. With `attest` each
 * attempt first verifies the Coordinator's quote (api_attest_coordinator) until it verified once;
 * the root the quote covers is then the pin (when ca_pem is set too, it must be that same root).
 */
struct att_source;

struct api_activation_config {
    const char *coordinator;  /* "host:port" (EDG_MARBLE_COORDINATOR_ADDR) */
    const char *marble_type;  /* EDG_MARBLE_TYPE */
    const char *const *names; /* EDG_MARBLE_DNS_NAMES, split; IP-looking entries become IP SANs */
    size_t names_count;
    const char *uuid;         /* the marble's UUID (canonical) */
    struct att_source *quote_source;
    /* Optional instead of quote_source: makes the quote over the given report data (custom TEEs;
     * tests use it to try quotes bound to something else). */
    int (*quote_fn)(void *ctx, const uint8_t report_data[64], struct buf *quote);
    void *quote_ctx;
    struct view ca_pem;       /* optional: the Coordinator root (PEM) that must have issued the server */
    int max_attempts;         /* 0: retry until deadline_seconds */
    int deadline_seconds;     /* 0: 300 */
    int backoff_max_ms;       /* 0: 10000 */
    void (*on_retry)(void *ctx, int attempt, int error, int wait_ms); /* optional, for logs */
    void *on_retry_ctx;
    /* TEST ONLY: sees the plaintext of every exchange (the request as sent, `sent` true; the
     * response as read), so a test can check what crosses the wire. The bytes carry secrets. */
    void (*insecure_wire_tap)(void *ctx, bool sent, struct view bytes);
    void *insecure_wire_tap_ctx;
    int connect_timeout_ms;   /* per attempt, TCP and TLS handshake; 0: 10000 */
    const struct api_attest_config *attest; /* optional: verify the Coordinator's quote first */
};

struct api_param {
    char *name;       /* path or variable name */
    struct buf value; /* bytes, private-key holes filled */
};

struct api_activation {
    struct buf chain_pem;       /* the marble certificate then the Coordinator intermediate */
    struct buf key_pem;         /* the marble's private key, PKCS#8 PEM (a secret) */
    struct api_param *files;
    size_t files_count;
    struct api_param *env;
    size_t env_count;
    char **argv;                /* NULL-terminated; argc entries */
    size_t argc;
};

QY_API int api_activate(const struct api_activation_config *cfg, struct api_activation **out) QY_MUST_USE;
/* Wipes and frees. NULL-safe. */
QY_API void api_activation_free(struct api_activation *a);

/*
 * Applying an activation (apply.c): what quarry-premain does with the result before it execs the
 * program, for programs that activate in-process too (docs/getting-started.md).
 *
 * api_activation_write_files() writes a->files. Gramine's key pseudo-files (paths under
 * /dev/attestation/keys/ and the legacy /dev/attestation/protected_files_key) come first and are
 * written in place, because the encrypted files that follow need their keys (reference/marblerun.md
 * §6.4). Every other file is written atomically (file_write_atomic: a temporary file, fsync, rename)
 * with mode 0600, its missing parent folders created with mode 0700; relative paths are relative to
 * the working directory. All or nothing: when a write fails, the files this call wrote and the
 * folders it created are removed again (the key pseudo-files cannot be), and the error names the
 * file. Borrows `a`.
 */
QY_API int api_activation_write_files(const struct api_activation *a) QY_MUST_USE;
/* setenv() of every a->env entry, replacing existing values. Values become C strings, so a value
 * containing a NUL byte, or a name that is empty or contains '=', is refused (ERR_ENCODING) before
 * any variable is set. Not thread-safe (setenv). Borrows `a`. */
QY_API int api_activation_set_env(const struct api_activation *a) QY_MUST_USE;

/* Parses one HTTP/1.1 response with a Content-Length (bounded; fuzzed): status and body (borrowed
 * from `in`). ERR_TRUNCATED when more bytes are needed. */
QY_API int api_http_parse_response(struct view in, int *status, struct view *body) QY_MUST_USE;

/* Servers ------------------------------------------------------------------------------------ */

/*
 * An HTTP(S) server: HTTP/1.1 from libevent's evhttp over bufferevent_openssl, TLS 1.3 only. It runs
 * `threads` event loops and calls the handler on the loop's thread. Handlers may block briefly (a
 * durable commit): other loops keep serving meanwhile. Bodies above max_body are cut off by evhttp
 * (its own plain 413/400 answers and closes); everything that reaches the handler is answered by it.
 *
 * One listening socket per server, never SO_REUSEPORT: a second process on the same address fails
 * to start ("the address is in use") instead of silently taking a share of the connections. The
 * loops accept on descriptors of that one socket; a loop accepts one connection per wake-up, so a
 * connection goes to whichever loop is free first.
 *
 * Connections are admitted so that a flood of idle or slow clients can neither exhaust the
 * process's descriptors nor lock other clients out:
 * - A server holds at most max_connections, split evenly over its loops. A connection is "waiting"
 *   from its accept (or from its last response) until its next request is complete, "busy" while
 *   that request is handled and answered. When a new connection would exceed the loop's share,
 *   the loop closes its oldest waiting connection to make room: holding a slot costs an attacker a
 *   fresh connection for each one a client opens, and a client that completes its request within a
 *   handshake's time gets in. Only when every other connection is busy does the loop stop accepting,
 *   until one closes (new clients then wait in the kernel's backlog). There is no limit per peer
 *   address: behind a proxy or on one host, every peer has the same address.
 * - request_timeout_seconds bounds the whole of a request: TLS handshake, headers and body must be
 *   complete that long after the accept or the last response, however the bytes trickle in;
 *   timeout_seconds also cuts a connection idle (nothing read or written) that long.
 * - When accept() fails (out of descriptors, out of memory), the loop pauses accepting for
 *   QY_ACCEPT_PAUSE_MS, closes up to QY_ACCEPT_EVICT_BATCH of its waiting connections, and the
 *   server logs it at most once per QY_ACCEPT_LOG_SECONDS with the count of errors in between.
 * Each server has its own cap, so a flood of one port leaves the others their connections.
 */
enum api_client_auth {
    API_CLIENT_CERT_NONE,    /* no certificate asked */
    API_CLIENT_CERT_REQUEST, /* asked for, optional, not chain-verified (users are matched by DER) */
    API_CLIENT_CERT_REQUIRE, /* required, not chain-verified (the mesh binds it to a quote) */
};

struct api_request; /* valid for the duration of a handler call */

struct api_response {
    int status;
    const char *content_type; /* static string */
    bool nosniff;             /* X-Content-Type-Options: nosniff */
    struct buf body;
    const char *route;        /* static label for metrics (the matched route); NULL: "unmatched" */
};

typedef void (*api_handler)(void *ctx, struct api_request *req, struct api_response *resp);

struct api_server_config {
    const char *name;   /* for logs: "client", "mesh", "metrics" */
    const char *addr;   /* "host:port", ":port" (all interfaces), port 0 picks one */
    bool tls;
    enum api_client_auth client_auth;
    int threads;
    size_t max_body;
    int timeout_seconds;         /* idle; 0: QY_IDLE_TIMEOUT_SECONDS */
    api_handler handler;
    void *ctx;
    size_t max_connections;      /* at once, at least `threads`; 0: QY_SERVER_CONNECTIONS_DEFAULT */
    int request_timeout_seconds; /* 0: QY_REQUEST_TIMEOUT_SECONDS */
};

struct api_server;
struct crypto_key;

/* Binds and starts serving. With tls, no connection succeeds until an identity is set. Borrows
 * `cfg` (its strings are copied or not kept); returns an owned server (api_server_stop). ERR_IO
 * when the address cannot be bound (in use: the message says so), ERR_RANGE for a cap or timeout
 * out of bounds. */
QY_API int api_server_start(const struct api_server_config *cfg, struct api_server **out) QY_MUST_USE;
/* Sets (or replaces) the TLS certificate chain (DER certificates, leaf first) and its key. Existing
 * connections keep the old identity. The key is referenced, not copied. */
QY_API int api_server_set_identity(struct api_server *s, const struct view *chain, size_t chain_len,
                                   struct crypto_key *key) QY_MUST_USE;
QY_API uint16_t api_server_port(const struct api_server *s);
/* Stops accepting, closes connections, joins the threads, frees. NULL-safe. */
QY_API void api_server_stop(struct api_server *s);

QY_API enum api_method api_req_method(const struct api_request *r);
/* The path without query string, as sent (percent-encoding kept). */
QY_API const char *api_req_path(const struct api_request *r);
/* The index-th value of query parameter `name` (decoded), or NULL. */
QY_API const char *api_req_query(const struct api_request *r, const char *name, size_t index);
/* Whether the query string could be parsed at all. */
QY_API bool api_req_query_ok(const struct api_request *r);
QY_API struct view api_req_body(const struct api_request *r);
/* The client's leaf certificate (DER, borrowed), the only one whose private key the handshake
 * proved: authenticate with this, never with the other certificates a client sends (they are not
 * offered at all). VIEW_EMPTY when none. */
QY_API struct view api_req_peer_leaf(const struct api_request *r);
/* RFC 8446 exporter of this TLS connection (no context). */
QY_API int api_req_tls_exporter(const struct api_request *r, const char *label, uint8_t *out, size_t size)
    QY_MUST_USE;

/* Metrics (Prometheus text format) -------------------------------------------------------------- */

/* Process-wide counters, safe from any thread. Labels are static strings or bounded names. */
QY_API void api_metrics_request(const char *server, const char *route, int status, double seconds);
QY_API void api_metrics_activation(const char *marble_type, const char *result);
/* One collateral fetch: `kind` and `outcome` are attestation's static names ("tcb_info", "ok",
 * "absent", "failed", "rejected"). */
QY_API void api_metrics_collateral_fetch(const char *kind, const char *outcome);
/* The /metrics page: the Coordinator's state code, `mode` ("sgx", "emulated", "simulation") and
 * `insecure` (coord_insecure_text: "" when secure, else e.g. "emulated,extra-root"); both borrowed. */
QY_API int api_metrics_render(int state, const char *mode, const char *insecure, struct buf *out) QY_MUST_USE;
/* A handler serving GET /metrics; ctx = struct api_metrics_ctx * (its strings borrowed for the
 * server's life). */
struct api_metrics_ctx {
    int (*state)(void *ctx);
    void *state_ctx;
    const char *mode;
    const char *insecure; /* NULL or "": secure */
};
QY_API void api_metrics_handler(void *ctx, struct api_request *req, struct api_response *resp);

/* The Coordinator's handlers, ctx = struct coord *: the client REST API (MarbleRun's v2 and v1
 * routes) and the mesh API (marble activation, docs/mesh-protocol.md). */
QY_API void api_client_api_handler(void *ctx, struct api_request *req, struct api_response *resp);
QY_API void api_mesh_api_handler(void *ctx, struct api_request *req, struct api_response *resp);

/* JSend (reference/marblerun.md §3.1): success 200 application/json {"status":"success","data":..};
 * fail (client errors) application/json {"status":"fail","data":..,"message":..}; error
 * text/plain with nosniff {"status":"error","data":null,"message":..}. `data` is stolen (may be NULL
 * for null). An empty message is omitted. */
QY_API void api_jsend_success(struct api_response *resp, json_t *data);
QY_API void api_jsend_fail(struct api_response *resp, int status, json_t *data, const char *fmt, ...)
    QY_PRINTF(4, 5);
QY_API void api_jsend_error(struct api_response *resp, int status, const char *fmt, ...) QY_PRINTF(3, 4);

#endif
