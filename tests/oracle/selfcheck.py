#!/usr/bin/env python3
"""Known-answer self-check of the oracle ref.py.

Builds a tiny hand-written catalog and session files in a temporary
directory, runs ref.py on them and compares the outputs with values computed
by hand from SPEC.md (arithmetic in the comments).  Exit 0 when all match.

    python3 tests/oracle/selfcheck.py
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

CATALOG = {
    "currencies.csv": b"currency,exponent\nEUR,2\nJPY,0\nKWD,3\n",
    "plans.csv": b"plan_id,currency,monthly_fee,packages\n"
                 b"basic,EUR,9.99,news sports\njp,JPY,1200,news\n"
                 b"kw,KWD,3.5,news\n",
    "content.csv": b"content_id,class,package\nc_news,news,news\n"
                   b"c_sport,sports,sports\nc_movie,movies,movies\n"
                   b"fight,ppv,\n",
    "ppv_prices.csv": b"content_id,currency,price\nfight,EUR,14.99\n",
    # BOM and CRLF: the catalog files share the session dialect.
    "regions.csv": b"\xef\xbb\xbfregion,timezone\r\nfr,Europe/Paris\r\n"
                   b"us,America/New_York\r\njp,Asia/Tokyo\r\n",
    "taxes.csv": b"region,rate_percent,valid_from,valid_to\nfr,20,,\n"
                 b"us,8.875,2024-01-01,\njp,10,,2024-03-31\n",
    "bands.csv": b"band,days,from,to\npeak,mon tue wed thu fri,18:00,23:00\n"
                 b"night,sat sun,00:00,24:00\n",
    "rates.csv": b"rate_id,plan_id,class,quality,band,meter,unit,unit_price,"
                 b"valid_from,valid_to\n"
                 b"r_news_time,basic,news,*,*,time,60,0.01,,\n"
                 b"r_news_peak,basic,news,HD,peak,time,60,0.02,2024-01-01,\n"
                 b"r_sport_bytes,basic,sports,*,*,bytes,1000000,0.001,,\n",
    # Columns in another order than SPEC section 2.
    "tiers.csv": b"from_units,rate_id,unit_price\n100,r_sport_bytes,0.0005\n"
                 b"200,r_sport_bytes,0.0001\n",
    "allowances.csv": b"rate_id,units\nr_news_time,10\n",
    "subscriptions.csv": b"subscriber_id,plan_id,region,start,end\n"
                         b"alice,basic,fr,2024-01-01,\n"
                         b"bob,basic,us,2024-03-10,2024-03-20\n"
                         b"bob,basic,fr,2024-03-20,\n"
                         b"carol,jp,jp,2023-01-01,\n"
                         b"dave,kw,fr,2024-04-01,\n"
                         b"erin,kw,fr,2024-03-16,\n",
}

SESSIONS = (
    b"session_id,subscriber_id,content_id,start,duration_s,bytes,quality,x\n"
    # Mon 18:30 CET: band peak, exact HD+peak rate: ceil(600/60)=10 x 0.02
    b"s1,alice,c_news,2024-03-04T18:30:00+01:00,600,0,HD,x\n"
    # 18:00 CET is peak, but SD only matches r_news_time: ceil(61/60)=2
    b"s2,alice,c_news,2024-03-04T17:00:00.123456Z,61,0,SD,x\n"
    # ceil(250000001/1000000) = 251 units x 0.001 = 0.251
    b"s3,alice,c_sport,2024-03-05T10:00:00Z,10,250000001,HD,x\n"
    b"s4,alice,fight,2024-03-05T10:00:00Z,10,0,HD,x\n"
    b"s5,alice,fight,2024-03-06T10:00:00Z,10,0,HD,x\n"
    b"s6,alice,c_movie,2024-03-06T10:00:00Z,10,0,HD,x\n"
    # New York is on EDT from 2024-03-10: 08:00 local Tue, no band; 60 units
    b"s7,bob,c_news,2024-03-12T12:00:00Z,3600,0,HD,x\n"
    b"s8,bob,c_news,2024-03-05T12:00:00Z,3600,0,HD,x\n"
    b"s9,zed,c_news,2024-03-05T12:00:00Z,3600,0,HD,x\n"
    b's1,alice,c_news,2024-03-04T18:30:00+01:00,600,0,HD,"dup, ""q"""\n'
    # 2024-03-31T22:30Z: in the period; Sunday 00:30 CEST is band night
    b"s11,alice,c_news,2024-04-01T00:30:00+02:00,30,0,HD,x\n"
    b"\n"
    b"s12,alice,c_news,2024-03-01T00:30:00+01:00,30,0,HD,x\n"
    # Tokyo Saturday 00:30: band night; plan jp has no rate: included
    b"s13,carol,c_news,2024-03-09T00:30:00+09:00,0,0,UHD,x\n"
    b"s14,alice,c_news,2024-03-09T00:30:00+09:00,0,0,4K,x\n"
    b"s15,alice,c_news,2024-03-09T00:30:00+09:00,604801,0,4K,x\n"
    b'"s,16",alice,"multi\nline",2024-03-09T00:30:00+09:00,1,0,HD,x\n'
    b"s17,alice,c_news,2024-03-09T00:30:00+09:00,1,0,HD\n"
    b's18,al"ice,c_news,2024-03-09T00:30:00+09:00,1,0,HD,x\n'
    b'"s19,alice,c_news,2024-03-09T00:30:00+09:00,1,0,HD,x\n'
    b"s20,alice,c_news,2024-03-09T00:30:00+09:00,1,99999999999999999999,HD,x\n"
    b"s21,alice,c_news,2024-02-30T00:30:00Z,1,0,HD,x\n"
    b"s22,alice,c_news,2024-03-09T00:30:00Z,1,0,HD,x\n"
)

STDIN = (b"quality,start,bytes,duration_s,content_id,subscriber_id,session_id"
         b"\r\nHD,2024-03-10T00:00:00Z,0,5,c_news,erin,e1\r\n\r\n"
         b"hd,2024-03-10T00:00:00,0,5,c_news,erin,e2\r\n")

EXPECTED = {
    "rated.csv":
        b"session_id,subscriber_id,content_id,start,period,plan_id,region,"
        b"class,quality,band,rate_id,meter,units,charge,currency\n"
        b"s1,alice,c_news,2024-03-04T17:30:00Z,2024-03,basic,fr,news,HD,peak,"
        b"r_news_peak,time,10,0.200000,EUR\n"
        b"s2,alice,c_news,2024-03-04T17:00:00Z,2024-03,basic,fr,news,SD,peak,"
        b"r_news_time,time,2,0.020000,EUR\n"
        b"s3,alice,c_sport,2024-03-05T10:00:00Z,2024-03,basic,fr,sports,HD,,"
        b"r_sport_bytes,bytes,251,0.251000,EUR\n"
        b"s4,alice,fight,2024-03-05T10:00:00Z,2024-03,basic,fr,ppv,HD,,ppv,,1,"
        b"14.990000,EUR\n"
        b"s5,alice,fight,2024-03-06T10:00:00Z,2024-03,basic,fr,ppv,HD,,ppv,,1,"
        b"14.990000,EUR\n"
        b"s7,bob,c_news,2024-03-12T12:00:00Z,2024-03,basic,us,news,HD,,"
        b"r_news_time,time,60,0.600000,EUR\n"
        b"s11,alice,c_news,2024-03-31T22:30:00Z,2024-03,basic,fr,news,HD,,"
        b"r_news_time,time,1,0.010000,EUR\n"
        b"s13,carol,c_news,2024-03-08T15:30:00Z,2024-03,jp,jp,news,UHD,night,"
        b",,0,0.000000,JPY\n"
        b"s22,alice,c_news,2024-03-09T00:30:00Z,2024-03,basic,fr,news,HD,night,"
        b"r_news_time,time,1,0.010000,EUR\n",
    "rejects.csv":
        b"file,line,reason,record\n"
        b's.csv,7,not_entitled,"s6,alice,c_movie,2024-03-06T10:00:00Z,10,0,HD,'
        b'x"\n'
        b's.csv,9,no_subscription,"s8,bob,c_news,2024-03-05T12:00:00Z,3600,0,'
        b'HD,x"\n'
        b's.csv,10,unknown_subscriber,"s9,zed,c_news,2024-03-05T12:00:00Z,3600,'
        b'0,HD,x"\n'
        b's.csv,11,duplicate,"s1,alice,c_news,2024-03-04T18:30:00+01:00,600,0,'
        b'HD,""dup, """"q"""""""\n'
        b's.csv,14,other_period,"s12,alice,c_news,2024-03-01T00:30:00+01:00,30,'
        b'0,HD,x"\n'
        b's.csv,16,malformed:quality,"s14,alice,c_news,2024-03-09T00:30:00+09:'
        b'00,0,0,4K,x"\n'
        b's.csv,17,malformed:duration_s,"s15,alice,c_news,2024-03-09T00:30:00+'
        b'09:00,604801,0,4K,x"\n'
        b's.csv,18,malformed:content_id,"""s,16"",alice,""multi\nline"",2024-'
        b'03-09T00:30:00+09:00,1,0,HD,x"\n'
        b's.csv,20,malformed:line,"s17,alice,c_news,2024-03-09T00:30:00+09:00,'
        b'1,0,HD"\n'
        b's.csv,21,malformed:line,"s18,al""ice,c_news,2024-03-09T00:30:00+09:'
        b'00,1,0,HD,x"\n'
        b's.csv,22,malformed:line,"""s19,alice,c_news,2024-03-09T00:30:00+09:'
        b'00,1,0,HD,x"\n'
        b's.csv,23,malformed:bytes,"s20,alice,c_news,2024-03-09T00:30:00+09:00,'
        b'1,99999999999999999999,HD,x"\n'
        b's.csv,24,malformed:start,"s21,alice,c_news,2024-02-30T00:30:00Z,1,0,'
        b'HD,x"\n'
        b'-,2,no_subscription,"HD,2024-03-10T00:00:00Z,0,5,c_news,erin,e1"\n'
        b'-,4,malformed:quality,"hd,2024-03-10T00:00:00,0,5,c_news,erin,e2"\n',
    # alice: 9.99 x 31/31 = 9.99; r_news_peak 10 x 0.02 = 0.20; r_news_time
    #   2+1+1 = 4 units, allowance 10, billable 0 -> 0.00; r_sport_bytes 251
    #   units: 100 x 0.001 + 100 x 0.0005 + 51 x 0.0001 = 0.1551 -> 0.16;
    #   fight once 14.99.  subtotal 25.34; tax 20% = 5.068 -> 5.07; 30.41
    # bob: 9.99 x 10/31 = 3.2225.. -> 3.22; 9.99 x 12/31 = 3.8670.. -> 3.87;
    #   60 units - 10 = 50 x 0.01 = 0.50; subtotal 7.59; region fr (latest
    #   start), 20% = 1.518 -> 1.52; total 9.11
    # carol: 1200 JPY; jp tax ends 2024-03-31 (exclusive) -> no tax, "0"
    # dave: starts in April, no invoice
    # erin: 3.5 x 16/31 = 1.80645.. -> 1.806 KWD; 20% = 0.3612 -> 0.361
    "invoices-2024-03.csv":
        b"subscriber,currency,subtotal,tax,total\n"
        b"alice,EUR,25.34,5.07,30.41\nbob,EUR,7.59,1.52,9.11\n"
        b"carol,JPY,1200,0,1200\nerin,KWD,1.806,0.361,2.167\n",
    "summary.json":
        b'{"records":24,"rated":9,"skipped":2,"rejected":{"duplicate":1,'
        b'"malformed:bytes":1,"malformed:content_id":1,'
        b'"malformed:duration_s":1,"malformed:line":3,"malformed:quality":2,'
        b'"malformed:start":1,"no_subscription":2,"not_entitled":1,'
        b'"other_period":1,"unknown_subscriber":1},"invoices":4,'
        b'"totals":{"EUR":"39.52","JPY":"1200","KWD":"2.167"},"seconds":0,'
        b'"records_per_second":0}\n',
}

EXPECTED_JSONL_LINE = (
    b'{"subscriber":"bob","period":"2024-03","currency":"EUR","region":"fr",'
    b'"lines":[{"type":"recurring","plan":"basic","days":10,"amount":"3.22"},'
    b'{"type":"recurring","plan":"basic","days":12,"amount":"3.87"},'
    b'{"type":"usage","rate":"r_news_time","units":60,"allowance":10,'
    b'"billable":50,"amount":"0.50"}],"subtotal":"7.59","tax_rate":"20",'
    b'"tax":"1.52","total":"9.11"}\n')


def run(tmp, files, stdin=b""):
    cmd = [sys.executable, os.path.join(HERE, "ref.py"), "rate", "--catalog",
           "cat", "--period", "2024-03", "--out", "out"] + files
    return subprocess.run(cmd, cwd=tmp, input=stdin, capture_output=True)


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        os.mkdir(os.path.join(tmp, "cat"))
        for name, data in CATALOG.items():
            with open(os.path.join(tmp, "cat", name), "wb") as f:
                f.write(data)
        with open(os.path.join(tmp, "s.csv"), "wb") as f:
            f.write(SESSIONS)
        r = run(tmp, ["s.csv", "-"], STDIN)
        if r.returncode != 0:
            print("run failed:", r.returncode, r.stderr.decode())
            return 1
        for name, want in EXPECTED.items():
            with open(os.path.join(tmp, "out", name), "rb") as f:
                got = f.read()
            if got != want:
                failures += 1
                print("MISMATCH", name)
                print(got.decode("utf-8", "replace"))
        with open(os.path.join(tmp, "out", "invoices-2024-03.jsonl"), "rb") as f:
            lines = f.readlines()
        if len(lines) != 4 or lines[1] != EXPECTED_JSONL_LINE:
            failures += 1
            print("MISMATCH invoices-2024-03.jsonl")

        # A header lacking a column refuses the run: exit 2, outputs kept.
        with open(os.path.join(tmp, "bad.csv"), "wb") as f:
            f.write(b"session_id,subscriber_id,content_id,start,bytes,quality\n")
        before = sorted(os.listdir(os.path.join(tmp, "out")))
        os.unlink(os.path.join(tmp, "out", "summary.json"))
        r = run(tmp, ["s.csv", "bad.csv"])
        if r.returncode != 2 or os.path.exists(
                os.path.join(tmp, "out", "summary.json")):
            failures += 1
            print("bad header: want exit 2 and no output, got",
                  r.returncode, before)
    print("selfcheck:", "ok" if failures == 0 else "%d failures" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
