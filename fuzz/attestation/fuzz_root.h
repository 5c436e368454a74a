/* The emulated root of the testkit that made the seeds in fuzz/corpus/{quote,collateral}
 * (`quarry testkit init --at 2025-06-01T00:00:00Z`): trusting it lets mutated seeds reach the QE
 * report, binding, quote signature and collateral signature checks. TEST ONLY. */
#ifndef QUARRY_FUZZ_ROOT_H
#define QUARRY_FUZZ_ROOT_H

static const char fuzz_testkit_root[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICJjCCAcygAwIBAgIQT+7W+z1KrZ/QYjMqjUpYODAKBggqhkjOPQQDAjBhMSMw\n"
    "IQYDVQQDDBpRdWFycnkgVGVzdGtpdCBTR1ggUm9vdCBDQTEtMCsGA1UECgwkUXVh\n"
    "cnJ5IFRlc3RraXQgKElOU0VDVVJFLCBURVNUIE9OTFkpMQswCQYDVQQGEwJVUzAe\n"
    "Fw0yNTA1MzEwMDAwMDBaFw00NTA1MjcwMDAwMDBaMGExIzAhBgNVBAMMGlF1YXJy\n"
    "eSBUZXN0a2l0IFNHWCBSb290IENBMS0wKwYDVQQKDCRRdWFycnkgVGVzdGtpdCAo\n"
    "SU5TRUNVUkUsIFRFU1QgT05MWSkxCzAJBgNVBAYTAlVTMFkwEwYHKoZIzj0CAQYI\n"
    "KoZIzj0DAQcDQgAEOLpERHZQVIPnZy1oziQSpN7MBJKyas/PxUpGYgevZEjLRaEl\n"
    "PtdBER0czWNSQ/Un/dngvUwYpdsphShNcpjsy6NmMGQwHQYDVR0OBBYEFPelw7h1\n"
    "xe44S2nHgGOAsuChPlJIMB8GA1UdIwQYMBaAFPelw7h1xe44S2nHgGOAsuChPlJI\n"
    "MBIGA1UdEwEB/wQIMAYBAf8CAQEwDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49BAMC\n"
    "A0gAMEUCIQCwQr0lmle+xaAaj1ImQQR9QcpxTzzyr3le31S2UOBsRwIgAjcwhf/8\n"
    "8oOrQNFfhn7L47Tpbp1Wzb6sFWE7uO4+jDA=\n"
    "-----END CERTIFICATE-----\n";

#endif
