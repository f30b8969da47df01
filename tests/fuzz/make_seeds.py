#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses into tests/fuzz/corpus/.

Run from the repository root: python3 tests/fuzz/make_seeds.py
The seeds are checked in; this records how they were made.
"""
import os

ROOT = 'tests/fuzz/corpus'
NAMES = ['currencies', 'plans', 'content', 'ppv_prices', 'regions', 'taxes',
         'bands', 'rates', 'tiers', 'allowances', 'subscriptions']


def seed(harness, i, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, '%02d' % i), 'wb') as f:
        f.write(data)


def split_seeds():
    # One control byte (header, window growth, read sizes, stretching),
    # two seed bytes, then the body of the session file.
    rec = b'sess1,sub1,c1,2024-03-01T10:00:00Z,60,1000,HD\n'
    bodies = [
        (0x00, rec + b'sess2,sub1,c1,2024-03-01T10:00:00.250+01:00,0060,0,SD'
         b'\r\n\r\n\nsess3,sub2,fight,2024-03-31T23:59:59-05:30,604800,'
         b'9223372036854775807,UHD'),
        (0x10, b'"s,1","sub ""x""","c\nontent",2024-03-01T10:00:00Z,1,2,HD'
         b'\r\n"a"b,u,c,2024-03-01T10:00:00Z,1,2,SD\n'
         b'x"y,u,c,2024-03-01T10:00:00Z,1,2,SD\n'),
        (0x21, b'SD,2,1,2024-03-01T10:00:00Z,c,u,s,dev,1.2.3.4,FR\r\n'
         b'HD,,,,,,,,,\n\r\nUHD,1,1,2024-02-30T10:00:00Z,c,u,s,d,i,c'),
        (0x02, b'1,s\x00x,u\xff\xfe,c,2024-03-01T10:00:00Z,1,by,2,HD,9\n'
         b'1,s,u,c,2024-03-01T24:00:00Z,1,x,2,HD,9\r'),
        (0x30, b'"unterminated,u,c,2024-03-01T10:00:00Z,1,2,HD\n' + rec),
        (0x00, b'a,b,c\rd,e,f,g\n,,,,,,\n   \n'
         b'\xef\xbb\xbfs,u,c,2024-03-01T10:00:00Z,1,2,HD\n'),
        (0x11, b'"a""""b","",""""""",2024-03-01T10:00:00Z,"1","2","HD"\n'
         b'"x"\r\r\n"y"\r'),
    ]
    for i, (ctl, body) in enumerate(bodies):
        seed('fuzz_split', i, bytes([ctl, i, 7 * i]) + body)
    # Stretched (control 0xC0 and up): fill byte, count - 65440, position.
    # 's' + the run + the rest of the record: 65535, 65536, 65537 bytes.
    rest = b'1,u1,c1,2024-03-01T10:00:00Z,60,1000,HD'
    after = b'\r\nnext,u,c,2024-03-01T10:00:00Z,1,2,SD\n'
    for j, want in enumerate([65535, 65536, 65537]):
        k = want - 1 - len(rest) - 65440
        seed('fuzz_split', 10 + j, bytes([0xC0 | (j << 4 & 0x30), j, 3,
                                          ord('x'), k, 1]) + b's' + rest + after)
    # A long quoted field holding an LF.
    seed('fuzz_split', 13, bytes([0xE0, 9, 9, ord('q'), 16, 2]) +
         b'"s\n1",u1,c1,2024-03-01T10:00:00Z,60,1000,HD\n'
         b'next,u,c,2024-03-01T10:00:00Z,1,2,SD\n')


def rfc3339_seeds():
    stamps = [
        b'2024-03-01T10:00:00Z', b'0001-01-01T00:00:00Z',
        b'9999-12-31T23:59:59Z', b'2024-02-29T12:34:56.789Z',
        b'2023-02-29T12:34:56Z', b'2024-03-31T01:59:59+23:59',
        b'0001-01-01T00:00:00+00:01', b'9999-12-31T23:59:59-00:01',
        b'2024-03-01t10:00:00z', b'2024-03-01T24:00:00Z',
        b'2024-03-01T10:60:00Z', b'2024-03-01T10:00:00.Z',
        b'2024-03-01T10:00:00-00:00', b'2000-02-29', b'1900-02-29T00:00:00Z',
        b'2024-13', b'2024-03-01T10:00:00+01:60', b'\xff' * 8,
    ]
    for i, t in enumerate(stamps):
        seed('fuzz_rfc3339', i, t)


def catalog_seeds():
    # One byte: which file (SPEC order); then its content.
    for i, n in enumerate(NAMES):
        with open('tests/fuzz/catalog/%s.csv' % n, 'rb') as f:
            seed('fuzz_catalog', i, bytes([i]) + f.read())
    kat = [('dst_2024_03', 'bands'), ('specificity', 'rates'),
           ('allowance_tiers', 'tiers'), ('tax_region', 'taxes')]
    for j, (group, n) in enumerate(kat):
        with open('tests/kat/%s/catalog/%s.csv' % (group, n), 'rb') as f:
            seed('fuzz_catalog', 11 + j, bytes([NAMES.index(n)]) + f.read())
    broken = [
        ('subscriptions',
         b'\xef\xbb\xbfsubscriber_id,plan_id,region,start,end\r\n'
         b's1,basic,fr,2024-01-01,2024-03-15\r\ns1,yen,jp,2024-03-01,\r\n'
         b's9,nope,fr,2024-02-30,\r\n"s\n2",basic,fr,2024-01-01,2023-01-01\n'),
        ('rates',
         b'rate_id,plan_id,class,quality,band,meter,unit,unit_price,'
         b'valid_from,valid_to\nr1,basic,live,*,*,time,60,0.01,,\n'
         b'r1,basic,live,*,*,time,0,1.0000001,,\n'
         b'r9,basic,live,*,*,bytes,9223372036854775808,1,2024-01-01,'
         b'2023-01-01\n'),
        ('plans', b'plan_id,currency,monthly_fee,packages\n'),
        ('bands', b'band,days,from,to\npeak,mon  tue,18:00,24:01\n'
         b'x,sun sun,00:00,00:00\n"a,b,c,d\n'),
    ]
    for j, (n, data) in enumerate(broken):
        seed('fuzz_catalog', 15 + j, bytes([NAMES.index(n)]) + data)


if __name__ == '__main__':
    split_seeds()
    rfc3339_seeds()
    catalog_seeds()
