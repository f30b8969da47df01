/*
 * nginx and nginx-rtmp access logs: log_format matching and unescaping,
 * the mapping file, line to session record, and the real capture in
 * tests/fixtures/nginx-rtmp/ (capture.sh) checked against expected.csv,
 * which capture.sh derives from $msec rather than $time_local.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "streamrate/error.h"
#include "streamrate/nginx.h"

static struct sr_nginx_scratch scratch;

static struct sr_str S(const char *s) {
	return (struct sr_str){s, (uint32_t)strlen(s)};
}

static void
assert_str(struct sr_str got, const char *want)
{
	cr_assert(sr_str_eq(got, S(want)), "got \"%.*s\", want \"%s\"",
	          (int)got.len, got.ptr, want);
}

static int64_t ts(const char *s)
{
	int64_t t;
	cr_assert_eq(sr__parse_rfc3339(s, strlen(s), &t), 0, "%s", s);
	return t;
}

static struct sr_logfmt *fmt(const char *f, enum sr_logfmt_escape esc)
{
	struct sr_logfmt *lf;
	const char *why;
	int rc = sr_logfmt_compile(f, strlen(f), esc, &lf, &why);
	cr_assert_eq(rc, 0, "%s: %s", f, why);
	return lf;
}

/* Match line and return the value of variable name. */
static struct sr_str value_of(const struct sr_logfmt *lf, const char *name)
{
	int i = sr_logfmt_var_index(lf, name, strlen(name));
	cr_assert_geq(i, 0, "%s", name);
	return scratch.values[i];
}

static void match(const struct sr_logfmt *lf, const char *line)
{
	int rc = sr_logfmt_match(lf, line, strlen(line), scratch.values,
	                         scratch.bytes);
	cr_assert_eq(rc, 0, "%s", line);
}

static void no_match(const struct sr_logfmt *lf, const char *line)
{
	int rc = sr_logfmt_match(lf, line, strlen(line), scratch.values,
	                         scratch.bytes);
	cr_assert_eq(rc, SR_EINVAL, "%s", line);
}

static const char http_combined[] =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status "
    "$body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

static const char rtmp_combined[] =
    "$remote_addr [$time_local] $command \"$app\" \"$name\" \"$args\" - "
    "$bytes_received $bytes_sent \"$pageurl\" \"$flashver\" "
    "($session_readable_time)";

Test(logfmt, http_combined)
{
	struct sr_logfmt *lf = fmt(http_combined, SR_ESCAPE_DEFAULT);
	cr_assert_eq(sr_logfmt_nvars(lf), 8);
	assert_str(sr_logfmt_var_name(lf, 0), "remote_addr");
	assert_str(sr_logfmt_var_name(lf, 7), "http_user_agent");
	match(lf, "203.0.113.7 - alice [25/Nov/2026:06:54:01 +0000] "
	          "\"GET /hls/news/index.m3u8?user=sub001 HTTP/1.1\" 200 "
	          "1532 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"");
	assert_str(value_of(lf, "remote_addr"), "203.0.113.7");
	assert_str(value_of(lf, "remote_user"), "alice");
	assert_str(value_of(lf, "time_local"), "25/Nov/2026:06:54:01 +0000");
	assert_str(value_of(lf, "request"),
	           "GET /hls/news/index.m3u8?user=sub001 HTTP/1.1");
	assert_str(value_of(lf, "status"), "200");
	assert_str(value_of(lf, "body_bytes_sent"), "1532");
	assert_str(value_of(lf, "http_referer"), "-");
	assert_str(value_of(lf, "http_user_agent"),
	           "Mozilla/5.0 (X11; Linux x86_64)");
	sr_logfmt_destroy(lf);
}

Test(logfmt, rtmp_default_format)
{
	struct sr_logfmt *lf = fmt(rtmp_combined, SR_ESCAPE_NONE);
	match(lf, "127.0.0.1 [25/Nov/2026:08:33:53 +0100] PLAY \"live\" "
	          "\"news\" \"device=phone&user=sub004\" - 461 316302 \"\" "
	          "\"LNX 9,0,124,2\" (1m 8s)");
	assert_str(value_of(lf, "command"), "PLAY");
	assert_str(value_of(lf, "app"), "live");
	assert_str(value_of(lf, "name"), "news");
	assert_str(value_of(lf, "args"), "device=phone&user=sub004");
	assert_str(value_of(lf, "bytes_received"), "461");
	assert_str(value_of(lf, "bytes_sent"), "316302");
	assert_str(value_of(lf, "pageurl"), "");
	assert_str(value_of(lf, "flashver"), "LNX 9,0,124,2");
	assert_str(value_of(lf, "session_readable_time"), "1m 8s");
	sr_logfmt_destroy(lf);
}

Test(logfmt, custom_with_msec_and_braces)
{
	/* ${name} is the same variable as $name; a variable may be last. */
	struct sr_logfmt *lf =
	    fmt("${connection}|$msec|${remote_addr}:$name", SR_ESCAPE_NONE);
	match(lf, "42|1795592025.275|::1:cinema");
	assert_str(value_of(lf, "connection"), "42");
	assert_str(value_of(lf, "msec"), "1795592025.275");
	/* A value runs up to the first occurrence of the next text. */
	assert_str(value_of(lf, "remote_addr"), "");
	assert_str(value_of(lf, "name"), ":1:cinema");
	sr_logfmt_destroy(lf);
}

Test(logfmt, fixed_width_times)
{
	/* $time_local holds a space, yet a space may follow it. */
	struct sr_logfmt *lf =
	    fmt("$time_local $time_iso8601 $remote_addr", SR_ESCAPE_DEFAULT);
	match(lf, "25/Nov/2026:06:54:01 +0000 2026-11-25T06:54:01+00:00 ::1");
	assert_str(value_of(lf, "time_local"), "25/Nov/2026:06:54:01 +0000");
	assert_str(value_of(lf, "time_iso8601"), "2026-11-25T06:54:01+00:00");
	assert_str(value_of(lf, "remote_addr"), "::1");
	no_match(lf, "25/Nov/2026:06:54:01 +000");
	sr_logfmt_destroy(lf);
}

Test(logfmt, lines_that_do_not_match)
{
	struct sr_logfmt *lf = fmt("[$a] \"$b\" $c", SR_ESCAPE_DEFAULT);
	match(lf, "[1] \"two\" 3");
	no_match(lf, "");
	no_match(lf, "1] \"two\" 3"); /* first literal missing */
	no_match(lf, "[1] \"two 3");  /* quote never closed */
	no_match(lf, "[1] \"two\"");  /* ends before " " */
	lf = (sr_logfmt_destroy(lf), fmt("$a \"$b\"", SR_ESCAPE_DEFAULT));
	no_match(lf, "x \"y\" trailing"); /* text after the last literal */
	sr_logfmt_destroy(lf);
}

Test(logfmt, repeated_variable_keeps_first)
{
	struct sr_logfmt *lf = fmt("$a/$b/$a", SR_ESCAPE_NONE);
	cr_assert_eq(sr_logfmt_nvars(lf), 2);
	match(lf, "x/y/z");
	assert_str(value_of(lf, "a"), "x");
	sr_logfmt_destroy(lf);
}

static void refused(const char *f, const char *why_part)
{
	struct sr_logfmt *lf = (void *)1;
	const char *why = NULL;
	cr_assert_eq(
	    sr_logfmt_compile(f, strlen(f), SR_ESCAPE_DEFAULT, &lf, &why),
	    SR_EINVAL, "%s", f);
	cr_assert_null(lf);
	cr_assert(why && strstr(why, why_part), "%s: %s", f, why);
}

Test(logfmt, compile_errors)
{
	refused("$a$b", "no text between");
	refused("$a${b}", "no text between");
	refused("x $ y", "not followed");
	refused("x ${a y", "closing");
	refused("${}", "not followed");
	refused("no variables", "no variable");
	refused("", "empty");
}

Test(logfmt, escape_default)
{
	/* nginx writes '"', '\', control bytes and bytes >= 0x7F as \xHH. */
	struct sr_logfmt *lf =
	    fmt("$remote_addr \"$http_user_agent\" $status", SR_ESCAPE_DEFAULT);
	match(lf, "::1 \"say \\x22hi\\x22 \\x5C \\xE2\\x82\\xac\\x09\" 200");
	assert_str(value_of(lf, "http_user_agent"),
	           "say \"hi\" \\ \xE2\x82\xAC\t");
	assert_str(value_of(lf, "status"), "200");
	/* A backslash that starts no \xHH stays as it is. */
	match(lf, "::1 \"a\\xZZ\\\" 200");
	assert_str(value_of(lf, "http_user_agent"), "a\\xZZ\\");
	sr_logfmt_destroy(lf);
}

Test(logfmt, escape_json)
{
	struct sr_logfmt *lf =
	    fmt("{\"ua\":\"$http_user_agent\",\"s\":$status}", SR_ESCAPE_JSON);
	/* The escaped quote does not end the field. */
	match(lf, "{\"ua\":\"a \\\"q\\\" \\\\ \\u0001\\n\\u00e9\",\"s\":200}");
	assert_str(value_of(lf, "http_user_agent"), "a \"q\" \\ \x01\n\xE9");
	assert_str(value_of(lf, "status"), "200");
	sr_logfmt_destroy(lf);
}

Test(logfmt, escape_none)
{
	/* nginx-rtmp never escapes: \x22 is four bytes of the name. */
	struct sr_logfmt *lf = fmt("\"$name\" $x", SR_ESCAPE_NONE);
	match(lf, "\"a\\x22b\" 1");
	assert_str(value_of(lf, "name"), "a\\x22b");
	sr_logfmt_destroy(lf);
}

/* ---- mapping files and line to session ---- */

static struct sr_nginx *mapping(const char *text)
{
	struct sr_nginx *cfg;
	struct sr_nginx_error err;
	int rc = sr_nginx_create(text, strlen(text), &cfg, &err);
	cr_assert_eq(rc, 0, "line %u: %s", err.line, err.msg);
	return cfg;
}

static void bad_mapping(const char *text, uint32_t line, const char *part)
{
	struct sr_nginx *cfg;
	struct sr_nginx_error err;
	cr_assert_eq(sr_nginx_create(text, strlen(text), &cfg, &err), SR_EINVAL,
	             "%s", text);
	cr_assert_null(cfg);
	cr_assert_eq(err.line, line, "line %u: %s", err.line, err.msg);
	cr_assert(strstr(err.msg, part), "%s", err.msg);
}

static enum sr_nginx_outcome parse(const struct sr_nginx *cfg, const char *line,
                                   struct sr_session *s, enum sr_reason *why)
{
	return sr_nginx_parse_line(cfg, line, strlen(line), &scratch, s, why);
}

static void session_ok(const struct sr_nginx *cfg, const char *line,
                       struct sr_session *s)
{
	enum sr_reason why;
	cr_assert_eq(parse(cfg, line, s, &why), SR_NGINX_SESSION, "%s: %s",
	             line, sr_reason_text(why).ptr);
}

static void rejected(const struct sr_nginx *cfg, const char *line,
                     enum sr_reason want)
{
	struct sr_session s;
	enum sr_reason why;
	cr_assert_eq(parse(cfg, line, &s, &why), SR_NGINX_REJECTED, "%s", line);
	cr_assert_eq(why, want, "%s: got %s, want %s", line,
	             sr_reason_text(why).ptr, sr_reason_text(want).ptr);
}

static void skipped(const struct sr_nginx *cfg, const char *line)
{
	struct sr_session s;
	enum sr_reason why;
	cr_assert_eq(parse(cfg, line, &s, &why), SR_NGINX_SKIPPED, "%s", line);
}

#define RTMP_MAP                                                               \
	"log_format = rtmp_combined\n"                                         \
	"escape = none\n"                                                      \
	"skip = $command != PLAY\n"                                            \
	"session_id = edge1:$time_local:$remote_addr:$bytes_sent\n"            \
	"subscriber = arg:user\n"                                              \
	"content_id = $name\n"                                                 \
	"start = $time_local - $session_readable_time\n"                       \
	"duration_s = $session_readable_time\n"                                \
	"bytes = $bytes_sent\n"                                                \
	"quality = map:$name\n"                                                \
	"[quality]\n"                                                          \
	"sports = HD\n"                                                        \
	"cinema = UHD\n"                                                       \
	"* = SD\n"

static char line_buf[1024];

/* An nginx-rtmp default-format line with the given parts. */
static const char *rtmp_line(const char *end, const char *cmd, const char *name,
                             const char *args, const char *bytes,
                             const char *readable)
{
	snprintf(line_buf, sizeof(line_buf),
	         "10.0.0.5 [%s] %s \"live\" \"%s\" \"%s\" - 409 %s \"\" "
	         "\"LNX 9,0,124,2\" (%s)",
	         end, cmd, name, args, bytes, readable);
	return line_buf;
}

Test(nginx, rtmp_play_line)
{
	struct sr_nginx *cfg = mapping(RTMP_MAP);
	struct sr_session s;
	session_ok(cfg,
	           rtmp_line("25/Nov/2026:08:34:03 +0100", "PLAY", "cinema",
	                     "user=sub005&device=tv", "480629", "12s"),
	           &s);
	assert_str(s.session_id,
	           "edge1:25/Nov/2026:08:34:03 +0100:10.0.0.5:480629");
	assert_str(s.subscriber_id, "sub005");
	assert_str(s.content_id, "cinema");
	/* 08:34:03 +0100 is 07:34:03Z; 12 s earlier is 07:33:51Z. */
	cr_assert_eq(s.start, ts("2026-11-25T07:33:51Z"));
	cr_assert_eq(s.duration_s, 12);
	cr_assert_eq(s.bytes, 480629);
	cr_assert_eq(s.quality, SR_UHD);
	sr_nginx_destroy(cfg);
}

Test(nginx, publish_and_none_are_skipped)
{
	struct sr_nginx *cfg = mapping(RTMP_MAP);
	skipped(cfg, rtmp_line("25/Nov/2026:08:34:09 +0100", "PUBLISH", "news",
	                       "user=studio1", "529", "30s"));
	skipped(cfg, rtmp_line("25/Nov/2026:08:34:09 +0100", "PLAY+PUBLISH",
	                       "news", "user=sub001", "529", "30s"));
	/* A connection that never played nor published. */
	skipped(cfg, rtmp_line("25/Nov/2026:08:34:09 +0100", "NONE", "", "",
	                       "0", "0s"));
	/* Empty lines are skipped, as in session files. */
	skipped(cfg, "");
	skipped(cfg, "\n");
	skipped(cfg, "\r\n");
	sr_nginx_destroy(cfg);
}

Test(nginx, line_ends_are_dropped)
{
	struct sr_nginx *cfg = mapping(RTMP_MAP);
	struct sr_session s;
	char l[1100];
	snprintf(l, sizeof(l), "%s\r\n",
	         rtmp_line("25/Nov/2026:08:34:03 +0100", "PLAY", "news",
	                   "user=sub001", "10", "1m 5s"));
	session_ok(cfg, l, &s);
	cr_assert_eq(s.duration_s, 65);
	cr_assert_eq(s.quality, SR_SD);
	sr_nginx_destroy(cfg);
}

Test(nginx, unmatched_line_is_malformed_line)
{
	struct sr_nginx *cfg = mapping(RTMP_MAP);
	rejected(cfg, "GET / HTTP/1.1", SR_REASON_MALFORMED_LINE);
	rejected(cfg, "10.0.0.5 [25/Nov/2026:08:34:03 +0100] PLAY \"live\"",
	         SR_REASON_MALFORMED_LINE);
	/* Longer than SR_NGINX_LINE_MAX. */
	size_t n = SR_NGINX_LINE_MAX + 1;
	char *big = malloc(n + 1);
	memset(big, 'a', n);
	big[n] = '\0';
	rejected(cfg, big, SR_REASON_MALFORMED_LINE);
	free(big);
	sr_nginx_destroy(cfg);
}

Test(nginx, missing_query_arg_is_malformed_subscriber)
{
	struct sr_nginx *cfg = mapping(RTMP_MAP);
	const char *end = "25/Nov/2026:08:34:03 +0100";
	rejected(cfg, rtmp_line(end, "PLAY", "news", "", "1", "1s"),
	         SR_REASON_MALFORMED_SUBSCRIBER_ID);
	rejected(cfg, rtmp_line(end, "PLAY", "news", "device=tv", "1", "1s"),
	         SR_REASON_MALFORMED_SUBSCRIBER_ID);
	rejected(cfg, rtmp_line(end, "PLAY", "news", "user=&x=1", "1", "1s"),
	         SR_REASON_MALFORMED_SUBSCRIBER_ID);
	/* "username" is not "user"; names compare without case, the
	 * first one given wins, and values are not percent-decoded. */
	rejected(cfg, rtmp_line(end, "PLAY", "news", "username=a", "1", "1s"),
	         SR_REASON_MALFORMED_SUBSCRIBER_ID);
	struct sr_session s;
	session_ok(
	    cfg,
	    rtmp_line(end, "PLAY", "news", "x&USER=a%20b&user=c", "1", "1s"),
	    &s);
	assert_str(s.subscriber_id, "a%20b");
	sr_nginx_destroy(cfg);
}

Test(nginx, first_bad_column_in_contract_order)
{
	struct sr_nginx *cfg = mapping(RTMP_MAP);
	const char *end = "25/Nov/2026:08:34:03 +0100";
	/* Both the subscriber and the bytes are bad: subscriber first. */
	rejected(cfg, rtmp_line(end, "PLAY", "news", "", "x1", "1s"),
	         SR_REASON_MALFORMED_SUBSCRIBER_ID);
	rejected(cfg, rtmp_line(end, "PLAY", "news", "user=a", "x1", "1s"),
	         SR_REASON_MALFORMED_BYTES);
	rejected(cfg, rtmp_line(end, "PLAY", "", "user=a", "1", "1s"),
	         SR_REASON_MALFORMED_CONTENT_ID);
	rejected(cfg, rtmp_line(end, "PLAY", "news", "user=a", "1", "1x"),
	         SR_REASON_MALFORMED_START);
	rejected(cfg,
	         rtmp_line("31/Feb/2026:08:34:03 +0100", "PLAY", "news",
	                   "user=a", "1", "1s"),
	         SR_REASON_MALFORMED_START);
	/* 7d 0h 0m 1s is one second over the contract's 604800. */
	rejected(cfg,
	         rtmp_line(end, "PLAY", "news", "user=a", "1", "7d 0h 0m 1s"),
	         SR_REASON_MALFORMED_DURATION_S);
	struct sr_session s;
	session_ok(cfg,
	           rtmp_line(end, "PLAY", "news", "user=a", "1", "7d 0h 0m 0s"),
	           &s);
	cr_assert_eq(s.duration_s, 604800);
	rejected(cfg,
	         rtmp_line(end, "PLAY", "news", "user=a", "9223372036854775808",
	                   "1s"),
	         SR_REASON_MALFORMED_BYTES);
	sr_nginx_destroy(cfg);
}

#define TIME_MAP(start, dur)                                                   \
	"log_format = $t|$d|$u\n"                                              \
	"session_id = s:$t\n"                                                  \
	"subscriber_id = $u\n"                                                 \
	"content_id = c\n"                                                     \
	"start = " start "\n"                                                  \
	"duration_s = " dur "\n"                                               \
	"bytes = 0\n"                                                          \
	"quality = SD\n"

static void start_is(const struct sr_nginx *cfg, const char *t, const char *d,
                     const char *want)
{
	struct sr_session s;
	char l[200];
	snprintf(l, sizeof(l), "%s|%s|u", t, d);
	session_ok(cfg, l, &s);
	cr_assert_eq(s.start, ts(want), "%s - %s: got %lld, want %s", t, d,
	             (long long)s.start, want);
}

Test(nginx, start_is_end_minus_duration)
{
	struct sr_nginx *cfg = mapping(TIME_MAP("$t - $d", "$d"));
	/* $time_local: across a leap day and a month boundary. */
	start_is(cfg, "01/Mar/2024:00:00:10 +0000", "20",
	         "2024-02-29T23:59:50Z");
	/* Local midnight of 1 Dec at +0100 is 30 Nov 23:00Z. */
	start_is(cfg, "01/Dec/2026:00:30:00 +0100", "3600",
	         "2026-11-30T22:30:00Z");
	/* West of UTC the UTC day is later: a new year in UTC only. */
	start_is(cfg, "31/Dec/2026:23:30:00 -0500", "60",
	         "2027-01-01T04:29:00Z");
	start_is(cfg, "01/Jan/2027:00:05:00 +0530", "600",
	         "2026-12-31T18:25:00Z");
	/* $time_iso8601. */
	start_is(cfg, "2026-11-01T00:00:30+02:00", "60",
	         "2026-10-31T21:59:30Z");
	/* $msec: milliseconds count, the result is floored. */
	start_is(cfg, "1795592025.275", "3", "2026-11-25T07:33:42Z");
	start_is(cfg, "1795592025.275", "0.276", "2026-11-25T07:33:44Z");
	start_is(cfg, "1795592025.275", "0.275", "2026-11-25T07:33:45Z");
	/* Readable durations: 1d 2h 3m 4s is 93784 s. */
	start_is(cfg, "02/Jan/2027:00:00:00 +0000", "1d 2h 3m 4s",
	         "2026-12-31T21:56:56Z");
	sr_nginx_destroy(cfg);
}

Test(nginx, start_without_duration)
{
	struct sr_nginx *cfg = mapping(TIME_MAP("$t", "$d"));
	start_is(cfg, "2024-02-29T12:00:00Z", "5", "2024-02-29T12:00:00Z");
	struct sr_session s;
	session_ok(cfg, "1.5|2.999|u", &s);
	cr_assert_eq(s.start, 1);
	cr_assert_eq(s.duration_s, 2); /* fractions are dropped */
	enum sr_reason why;
	cr_assert_eq(parse(cfg, "2024-02-30T12:00:00Z|5|u", &s, &why),
	             SR_NGINX_REJECTED);
	cr_assert_eq(why, SR_REASON_MALFORMED_START);
	cr_assert_eq(parse(cfg, "1.5|-|u", &s, &why), SR_NGINX_REJECTED);
	cr_assert_eq(why, SR_REASON_MALFORMED_DURATION_S);
	sr_nginx_destroy(cfg);
}

#define QUALITY_MAP(table)                                                     \
	"log_format = $n $q\n"                                                 \
	"session_id = $n\n"                                                    \
	"subscriber_id = u\n"                                                  \
	"content_id = $n\n"                                                    \
	"start = 0\n"                                                          \
	"duration_s = 0\n"                                                     \
	"bytes = 0\n"                                                          \
	"quality = map:$q\n" table

static uint8_t quality_of(const struct sr_nginx *cfg, const char *line)
{
	struct sr_session s;
	session_ok(cfg, line, &s);
	return s.quality;
}

Test(nginx, quality_map_and_default)
{
	struct sr_nginx *cfg =
	    mapping(QUALITY_MAP("[quality]\nhd = HD\nuhd = UHD\n* = SD\n"));
	cr_assert_eq(quality_of(cfg, "a hd"), SR_HD);
	cr_assert_eq(quality_of(cfg, "a uhd"), SR_UHD);
	cr_assert_eq(quality_of(cfg, "a HD"), SR_SD); /* keys are exact */
	cr_assert_eq(quality_of(cfg, "a other"), SR_SD);
	sr_nginx_destroy(cfg);
	/* Without a "*" row an unknown key is malformed:quality. */
	cfg = mapping(QUALITY_MAP("[quality]\nhd = HD\n"));
	cr_assert_eq(quality_of(cfg, "a hd"), SR_HD);
	rejected(cfg, "a sd", SR_REASON_MALFORMED_QUALITY);
	sr_nginx_destroy(cfg);
}

Test(nginx, http_combined_with_query_in_request)
{
	/* arg: reads $request when $args is not logged; "-" (nginx's "no
	 * value") is empty, so a missing $remote_user is malformed. */
	struct sr_nginx *cfg =
	    mapping("log_format = combined\n"
	            "session_id = $remote_addr:$time_local:$body_bytes_sent\n"
	            "subscriber_id = $remote_user\n"
	            "content_id = arg:channel\n"
	            "start = $time_local\n"
	            "duration_s = 0\n"
	            "bytes = $body_bytes_sent\n"
	            "quality = map:${arg:q}\n"
	            "[quality]\n"
	            "1080 = HD\n"
	            "* = SD\n");
	const char *line =
	    "203.0.113.7 - alice [25/Nov/2026:06:54:01 +0000] \"GET "
	    "/play?channel=news&q=1080 HTTP/1.1\" 200 1532 \"-\" \"ua\"";
	struct sr_session s;
	session_ok(cfg, line, &s);
	assert_str(s.subscriber_id, "alice");
	assert_str(s.content_id, "news");
	cr_assert_eq(s.quality, SR_HD);
	cr_assert_eq(s.bytes, 1532);
	cr_assert_eq(s.start, ts("2026-11-25T06:54:01Z"));
	rejected(cfg,
	         "203.0.113.7 - - [25/Nov/2026:06:54:01 +0000] \"GET "
	         "/play?channel=news HTTP/1.1\" 200 1532 \"-\" \"ua\"",
	         SR_REASON_MALFORMED_SUBSCRIBER_ID);
	sr_nginx_destroy(cfg);
}

Test(nginx, escaped_values_reach_the_session)
{
	struct sr_nginx *cfg =
	    mapping("log_format = '$remote_user \"$http_x_content\" $msec'\n"
	            "session_id = $msec\n"
	            "subscriber_id = $remote_user\n"
	            "content_id = $http_x_content\n"
	            "start = $msec\n"
	            "duration_s = 1\n"
	            "bytes = 1\n"
	            "quality = UHD\n");
	struct sr_session s;
	session_ok(cfg, "bob \"caf\\xC3\\xA9 \\x22live\\x22\" 1.000", &s);
	assert_str(s.content_id, "caf\xC3\xA9 \"live\"");
	/* A decoded control byte breaks the id rule. */
	rejected(cfg, "bob \"a\\x0Ab\" 1.000", SR_REASON_MALFORMED_CONTENT_ID);
	sr_nginx_destroy(cfg);
}

Test(nginx, skip_filters)
{
	struct sr_nginx *cfg =
	    mapping("log_format = $status $name $args\n"
	            "skip = $status != 200\n"
	            "skip = ${arg:user} ==\n"
	            "skip = $name == test\n"
	            "session_id = $name\nsubscriber_id = arg:user\n"
	            "content_id = $name\nstart = 0\nduration_s = 0\nbytes = 0\n"
	            "quality = SD\n");
	struct sr_session s;
	session_ok(cfg, "200 news user=a", &s);
	skipped(cfg, "404 news user=a");
	skipped(cfg, "200 news device=tv"); /* no user at all */
	skipped(cfg, "200 test user=a");
	sr_nginx_destroy(cfg);
}

Test(nginx_conf, quoted_log_format_pasted_from_nginx_conf)
{
	/* Quoted pieces on several lines are joined, escapes as nginx.conf
	 * reads them, a final ';' and comments are ignored. */
	struct sr_nginx *cfg = mapping(
	    "# comment\n"
	    "log_format = '$remote_addr [$time_local] '\n"
	    "             \"\\\"$name\\\" \" '$bytes_sent';   # trailing\n"
	    "session_id = $remote_addr:$time_local\n"
	    "  subscriber_id   =   u1  \n"
	    "content_id = $name\n"
	    "start = $time_local\n"
	    "duration_s = 0\n"
	    "bytes = $bytes_sent\n"
	    "quality = SD\n");
	const struct sr_logfmt *lf = sr_nginx_logfmt(cfg);
	cr_assert_eq(sr_logfmt_nvars(lf), 4);
	struct sr_session s;
	session_ok(cfg, "::1 [25/Nov/2026:06:54:01 +0000] \"news\" 77", &s);
	assert_str(s.subscriber_id, "u1");
	assert_str(s.content_id, "news");
	cr_assert_eq(s.bytes, 77);
	sr_nginx_destroy(cfg);
}

#define BASE_KEYS                                                              \
	"session_id = $a\nsubscriber_id = $a\ncontent_id = $a\n"               \
	"start = $a\nduration_s = $a\nbytes = $a\n"

Test(nginx_conf, errors_name_their_line)
{
	bad_mapping(BASE_KEYS "quality = SD\n", 0, "log_format is missing");
	bad_mapping("log_format = $a\n" BASE_KEYS, 0, "quality is missing");
	bad_mapping("log_format = $a\n" BASE_KEYS "quality = SD\nfoo = 1\n", 9,
	            "unknown key foo");
	bad_mapping("log_format = $a\n" BASE_KEYS "quality = $b\n", 8,
	            "$b is not in log_format");
	bad_mapping("log_format = $a$b\n" BASE_KEYS "quality = SD\n", 1,
	            "no text between");
	bad_mapping("log_format = $a\n" BASE_KEYS "quality = SD\n"
	            "[quality]\nx = HD\n",
	            0, "not map:");
	bad_mapping("log_format = $a\n" BASE_KEYS "quality = map:$a\n"
	            "[quality]\nx = HD\nx = SD\n",
	            0, "given twice");
	bad_mapping("log_format = $a\n" BASE_KEYS "quality = map:$a\n"
	            "[quality]\nx = hd\n",
	            10, "SD, HD or UHD");
	bad_mapping("log_format = $a\n" BASE_KEYS "quality = SD\n[nope]\n", 9,
	            "unknown section");
	bad_mapping("log_format = '$a\n" BASE_KEYS "quality = SD\n", 1,
	            "unterminated quote");
	bad_mapping("log_format = $a\n" BASE_KEYS "quality = SD\n"
	            "bytes = $a\n",
	            9, "given twice");
	bad_mapping("log_format = $a\nescape = html\n" BASE_KEYS
	            "quality = SD\n",
	            2, "escape is");
	bad_mapping("log_format = $a\n" BASE_KEYS "quality = arg:user\n", 0,
	            "arg: needs");
	bad_mapping("log_format = $a\n" BASE_KEYS "quality = SD\n"
	            "skip = $a\n",
	            9, "skip is");
	bad_mapping("log_format = $a\n" BASE_KEYS "quality\n", 8,
	            "key = value");
}

Test(nginx_conf, load_missing_file_is_io)
{
	struct sr_nginx *cfg;
	struct sr_nginx_error err;
	cr_assert_eq(sr_nginx_load("/nonexistent/streamrate.conf", &cfg, &err),
	             SR_EIO);
	cr_assert_null(cfg);
	cr_assert(strstr(err.msg, "/nonexistent/streamrate.conf"));
	sr_nginx_destroy(NULL);
}

/* ---- the real capture ---- */

/* tests/fixtures/nginx-rtmp/<name>, found from this file's path (meson
 * runs tests in the build directory) or from the source root. */
static char *fixture(const char *name)
{
	static char path[4096];
	const char *slash = strrchr(__FILE__, '/');
	int dir = slash ? (int)(slash - __FILE__) : 0;
	snprintf(path, sizeof(path), "%.*s%sfixtures/nginx-rtmp/%s", dir,
	         __FILE__, slash ? "/" : "", name);
	FILE *f = fopen(path, "rb");
	if (!f)
		snprintf(path, sizeof(path), "tests/fixtures/nginx-rtmp/%s",
		         name);
	else
		fclose(f);
	return path;
}

static char *slurp(const char *name, size_t *len)
{
	FILE *f = fopen(fixture(name), "rb");
	cr_assert_not_null(f, "%s", fixture(name));
	char *buf = malloc(1 << 20);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static struct sr_nginx *load_fixture_map(const char *name)
{
	struct sr_nginx *cfg;
	struct sr_nginx_error err;
	int rc = sr_nginx_load(fixture(name), &cfg, &err);
	cr_assert_eq(rc, 0, "%s:%u: %s", name, err.line, err.msg);
	return cfg;
}

/* Split s at commas in place (expected.csv holds no quoted field). */
static int split(char *s, char **f, int max)
{
	int n = 0;
	f[n++] = s;
	for (; *s && n < max; s++)
		if (*s == ',') {
			*s = '\0';
			f[n++] = s + 1;
		}
	return n;
}

static const char *quality_text(uint8_t q)
{
	return q == SR_SD ? "SD" : q == SR_HD ? "HD" : "UHD";
}

static void check_expected(const char *line, char *row, struct sr_nginx *cfg)
{
	char *f[9];
	cr_assert_eq(split(row, f, 9), 9, "%s", row);
	struct sr_session s;
	enum sr_reason why;
	enum sr_nginx_outcome o = parse(cfg, line, &s, &why);
	if (strcmp(f[1], "skipped") == 0) {
		cr_assert_eq(o, SR_NGINX_SKIPPED, "%s", line);
		return;
	}
	if (strcmp(f[1], "session") != 0) {
		cr_assert_eq(o, SR_NGINX_REJECTED, "%s", line);
		cr_assert_str_eq(sr_reason_text(why).ptr, f[1]);
		return;
	}
	cr_assert_eq(o, SR_NGINX_SESSION, "%s: %s", line,
	             sr_reason_text(why).ptr);
	assert_str(s.session_id, f[2]);
	assert_str(s.subscriber_id, f[3]);
	assert_str(s.content_id, f[4]);
	cr_assert_eq(s.start, ts(f[5]), "%s", line);
	cr_assert_eq(s.duration_s, strtoul(f[6], NULL, 10));
	cr_assert_eq(s.bytes, strtoull(f[7], NULL, 10));
	cr_assert_str_eq(quality_text(s.quality), f[8]);
}

Test(nginx_rtmp, capture)
{
	struct sr_nginx *cfg = load_fixture_map("streamrate.conf");
	size_t llen, elen;
	char *log = slurp("access.log", &llen),
	     *exp = slurp("expected.csv", &elen);
	char *lsave, *esave;
	char *row = strtok_r(exp, "\n", &esave); /* header */
	int lines = 0, sessions = 0, skips = 0, rejects = 0;
	for (char *l = strtok_r(log, "\n", &lsave); l;
	     l = strtok_r(NULL, "\n", &lsave)) {
		row = strtok_r(NULL, "\n", &esave);
		cr_assert_not_null(row, "expected.csv is short");
		lines++;
		sessions += strstr(row, ",session,") != NULL;
		skips += strstr(row, ",skipped,") != NULL;
		rejects += strstr(row, ",malformed:") != NULL;
		check_expected(l, row, cfg);
	}
	cr_assert_null(strtok_r(NULL, "\n", &esave), "expected.csv is long");
	/* The capture: 3 publishers (skipped), 7 players, one of them
	 * without ?user= (malformed:subscriber_id). */
	cr_assert_eq(lines, 10);
	cr_assert_eq(sessions, 6);
	cr_assert_eq(skips, 3);
	cr_assert_eq(rejects, 1);
	free(log);
	free(exp);
	sr_nginx_destroy(cfg);
}

Test(nginx_rtmp, capture_sessions_known_answers)
{
	/* Two lines of access.log, checked by hand. Line 1:
	 * [25/Nov/2026:08:33:45 +0100] is 07:33:45Z; $session_time 3. */
	struct sr_nginx *cfg = load_fixture_map("streamrate.conf");
	size_t len;
	char *log = slurp("access.log", &len), *save;
	char *l1 = strtok_r(log, "\n", &save);
	struct sr_session s;
	session_ok(cfg, l1, &s);
	assert_str(s.session_id, "local1:4:1795592025.275:127.0.0.1");
	assert_str(s.subscriber_id, "sub001");
	assert_str(s.content_id, "news");
	cr_assert_eq(s.start, ts("2026-11-25T07:33:42Z"));
	cr_assert_eq(s.duration_s, 3);
	cr_assert_eq(s.bytes, 117891);
	cr_assert_eq(s.quality, SR_SD);
	/* Line 4: user= comes after device= in the query. */
	strtok_r(NULL, "\n", &save);
	strtok_r(NULL, "\n", &save);
	session_ok(cfg, strtok_r(NULL, "\n", &save), &s);
	assert_str(s.subscriber_id, "sub002");
	assert_str(s.content_id, "sports");
	cr_assert_eq(s.quality, SR_HD);
	cr_assert_eq(s.duration_s, 6);
	free(log);
	sr_nginx_destroy(cfg);
}

Test(nginx_rtmp, default_format_gives_the_same_sessions)
{
	/* combined.log has the same connections in nginx-rtmp's default
	 * format: every column but the session id must agree. */
	struct sr_nginx *a = load_fixture_map("streamrate.conf");
	struct sr_nginx *b = load_fixture_map("streamrate-combined.conf");
	size_t alen, blen;
	char *la = slurp("access.log", &alen),
	     *lb = slurp("combined.log", &blen);
	char *sa, *sb, *x = strtok_r(la, "\n", &sa),
	               *y = strtok_r(lb, "\n", &sb);
	static struct sr_nginx_scratch scratch2;
	int n = 0;
	for (; x && y;
	     x = strtok_r(NULL, "\n", &sa), y = strtok_r(NULL, "\n", &sb)) {
		struct sr_session p, q;
		enum sr_reason wp, wq;
		enum sr_nginx_outcome op =
		    sr_nginx_parse_line(a, x, strlen(x), &scratch, &p, &wp);
		enum sr_nginx_outcome oq =
		    sr_nginx_parse_line(b, y, strlen(y), &scratch2, &q, &wq);
		cr_assert_eq(op, oq, "%s\n%s", x, y);
		n++;
		if (op != SR_NGINX_SESSION)
			continue;
		cr_assert(sr_str_eq(p.subscriber_id, q.subscriber_id));
		cr_assert(sr_str_eq(p.content_id, q.content_id));
		cr_assert_eq(p.start, q.start, "%s", y);
		cr_assert_eq(p.duration_s, q.duration_s);
		cr_assert_eq(p.bytes, q.bytes);
		cr_assert_eq(p.quality, q.quality);
	}
	cr_assert(!x && !y, "different line counts");
	cr_assert_eq(n, 10);
	free(la);
	free(lb);
	sr_nginx_destroy(a);
	sr_nginx_destroy(b);
}

Test(nginx_rtmp, session_ids_are_unique)
{
	struct sr_nginx *cfg = load_fixture_map("streamrate.conf");
	size_t len;
	char *log = slurp("access.log", &len), *save;
	char ids[16][160];
	int n = 0;
	for (char *l = strtok_r(log, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		struct sr_session s;
		enum sr_reason why;
		if (parse(cfg, l, &s, &why) != SR_NGINX_SESSION)
			continue;
		snprintf(ids[n], sizeof(ids[n]), "%.*s", (int)s.session_id.len,
		         s.session_id.ptr);
		for (int i = 0; i < n; i++)
			cr_assert_str_neq(ids[i], ids[n]);
		n++;
	}
	cr_assert_eq(n, 6);
	free(log);
	sr_nginx_destroy(cfg);
}

Test(nginx, format_with_too_many_parts_is_refused)
{
	/* One variable repeated: 64 distinct variables are not reached, but
	 * the parts are more than the matcher holds (found by fuzz_nginx). */
	char fmt[2048] = "";
	for (int i = 0; i < 200; i++)
		strcat(fmt, "$a-");
	struct sr_logfmt *f = NULL;
	const char *why = NULL;
	cr_assert_eq(sr_logfmt_compile(fmt, strlen(fmt), SR_ESCAPE_DEFAULT, &f,
				       &why),
		     SR_EINVAL);
	cr_assert_null(f);
	cr_assert_str_eq(why, "log_format has too many parts");
}
