#ifndef SWIFTMOUNT_CCRYPTO_SHIM_H
#define SWIFTMOUNT_CCRYPTO_SHIM_H
#include <stddef.h>
#include <openssl/evp.h>

// One MD5 digest through OpenSSL's EVP interface (its assembly implementation); 1 on success.
// "-fips": an ETag is not security, so a FIPS-preferring configuration still lends its MD5.
static inline int sm_md5(const void *data, size_t count, unsigned char digest[16]) {
    EVP_MD *md5 = EVP_MD_fetch(NULL, "MD5", "-fips");
    unsigned int size = 0;
    int ok = md5 != NULL && EVP_Digest(data, count, digest, &size, md5, NULL) == 1 && size == 16;
    EVP_MD_free(md5);
    return ok;
}

#endif
