#ifndef SWIFTMOUNT_CCRYPTO_SHIM_H
#define SWIFTMOUNT_CCRYPTO_SHIM_H
#include <stddef.h>
#include <openssl/evp.h>

// One MD5 digest through OpenSSL's EVP interface (its assembly implementation); 1 on success.
static inline int sm_md5(const void *data, size_t count, unsigned char digest[16]) {
    unsigned int size = 0;
    return EVP_Digest(data, count, digest, &size, EVP_md5(), NULL) == 1 && size == 16;
}

#endif
