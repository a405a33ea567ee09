"""xz 5.6.1's awk decryptor (an RC4 variant that adds the key byte) and its inverse, shared by the
test-data tests and eval/testdata_variants.py. The program is data here: provcheck only emulates it."""

from __future__ import annotations

RC4_AWK = ('BEGIN{FS="\\n";RS="\\n";ORS="";m=256;for(i=0;i<m;i++){t[sprintf("x%c",i)]=i;c[i]=((i*7)+5)%m;}'
           'i=0;j=0;for(l=0;l<8192;l++){i=(i+1)%m;a=c[i];j=(j+a)%m;c[i]=c[j];c[j]=a;}}'
           '{v=t["x" (NF<1?RS:$1)];i=(i+1)%m;a=c[i];j=(j+a)%m;b=c[j];c[i]=b;c[j]=a;k=c[(a+b)%m];'
           'printf "%c",(v+k)%m}')


def rc4_awk_encrypt(data: bytes) -> bytes:
    """What ``RC4_AWK`` decrypts back to ``data`` (fed one byte a line, as xz's ``sed`` did)."""
    c = [(i * 7 + 5) % 256 for i in range(256)]
    i = j = 0
    for _ in range(8192):
        i = (i + 1) % 256
        a = c[i]
        j = (j + a) % 256
        c[i], c[j] = c[j], a
    out = bytearray()
    for v in data:
        i = (i + 1) % 256
        a = c[i]
        j = (j + a) % 256
        b = c[j]
        c[i], c[j] = b, a
        out.append((v - c[(a + b) % 256]) % 256)
    return bytes(out)
