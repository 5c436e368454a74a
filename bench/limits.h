/*
 * The limits an activation is measured against, `openssl speed`-style with OpenSSL 3 directly: the
 * cost of the cryptography one activation needs on this machine, in CPU microseconds, each side
 * measured on its own. From them, the CPU-bound ceiling of activations per second.
 *
 * One activation costs the Coordinator a full TLS 1.3 handshake with mutual P-256 authentication
 * (server side: key share, one signature, one verification of the marble's CertificateVerify),
 * the verification of the quote's signature (warm collateral: the PCK chain and QE report are
 * cached), the verification of the CSR's signature and one signature for the marble certificate.
 * It costs the marble a key pair, the handshake's client side and three signatures (the CSR, its
 * bootstrap certificate, the emulated quote).
 */
#ifndef QUARRY_BENCH_LIMITS_H
#define QUARRY_BENCH_LIMITS_H

struct bench_limits {
    double handshake_us;        /* one full handshake, both sides (one thread, memory BIOs) */
    double handshake_server_us; /* the server's share of it */
    double handshake_client_us; /* the client's share */
    double sign_us, verify_us, keygen_us; /* ECDSA P-256 over a SHA-256 digest; key generation */
    double coordinator_us;                /* the Coordinator's crypto per activation (see above) */
    double marble_us;                     /* the marble's */
};

#define BENCH_LIMITS_THREADS_MAX 64

/* Measures each figure for about `seconds` on `threads` threads at once (the cores: the CPU time
 * per operation when every core works) and averages them. Exits on OpenSSL failures. */
void bench_limits_measure(double seconds, int threads, struct bench_limits *out);

#endif
