#ifndef SWIFTMOUNT_CCRYPTO_SHIM_H
#define SWIFTMOUNT_CCRYPTO_SHIM_H
#include <stddef.h>
#include <openssl/evp.h>

// An MD5 digest through OpenSSL's EVP interface (its assembly implementation), fed in pieces.
// "-fips": an ETag is not security, so a FIPS-preferring configuration still lends its MD5.
// NULL when OpenSSL has no MD5.
static inline EVP_MD_CTX *sm_md5_begin(void) {
    EVP_MD *md5 = EVP_MD_fetch(NULL, "MD5", "-fips");
    EVP_MD_CTX *context = md5 != NULL ? EVP_MD_CTX_new() : NULL;
    int ok = context != NULL && EVP_DigestInit_ex2(context, md5, NULL) == 1;
    EVP_MD_free(md5);
    if (!ok) { EVP_MD_CTX_free(context); return NULL; }
    return context;
}

static inline int sm_md5_update(EVP_MD_CTX *context, const void *data, size_t count) {
    return EVP_DigestUpdate(context, data, count);
}

// Writes the digest and frees the context; 1 on success.
static inline int sm_md5_end(EVP_MD_CTX *context, unsigned char digest[16]) {
    unsigned int size = 0;
    int ok = EVP_DigestFinal_ex(context, digest, &size) == 1 && size == 16;
    EVP_MD_CTX_free(context);
    return ok;
}

#endif
