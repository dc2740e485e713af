/*
 * checkpoint_export.c - a checkpoint as files any tool reads: tensors as NPY
 * 1.0 (numpy.load), blobs as their bytes, plus index.json.
 */
#include "checkpoint/checkpoint_int.h"
#include "format/json_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *npy_descr(pt_dtype d)
{
	switch (d) {
	case PT_DTYPE_BOOL: return "|b1";
	case PT_DTYPE_U8: return "|u1";
	case PT_DTYPE_I8: return "|i1";
	case PT_DTYPE_U16: return "<u2";
	case PT_DTYPE_I16: return "<i2";
	case PT_DTYPE_U32: return "<u4";
	case PT_DTYPE_I32: return "<i4";
	case PT_DTYPE_U64: return "<u8";
	case PT_DTYPE_I64: return "<i8";
	case PT_DTYPE_F16: return "<f2";
	case PT_DTYPE_BF16: return "<f4"; /* widened: numpy has no bfloat16 */
	case PT_DTYPE_F32: return "<f4";
	case PT_DTYPE_F64: return "<f8";
	case PT_DTYPE_C64: return "<c8";
	case PT_DTYPE_C128: return "<c16";
	/* numpy has no such type: the raw bits, as void of the element size */
	case PT_DTYPE_C32: return "|V4";
	case PT_DTYPE_F8_E4M3FN:
	case PT_DTYPE_F8_E5M2:
	case PT_DTYPE_F8_E4M3FNUZ:
	case PT_DTYPE_F8_E5M2FNUZ: return "|V1";
	}
	return NULL;
}

/* NPY 1.0: magic, version, u16 header length, a Python dict literal padded with spaces to 64 bytes. */
static int npy_header(pt__buf *out, const pt_checkpoint_entry *e)
{
	const char *descr = npy_descr(e->dtype);
	if (!descr)
		return pt__err(PT_ECORRUPT, "entry \"%s\": unknown dtype %d", e->name, (int)e->dtype);
	pt__buf dict = {0};
	int rc = pt__buf_printf(&dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
	for (unsigned i = 0; !rc && i < e->ndim; i++)
		rc = pt__buf_printf(&dict, "%" PRIu64 "%s", e->shape[i], e->ndim == 1 ? "," : i + 1 < e->ndim ? ", " : "");
	if (!rc)
		rc = pt__buf_printf(&dict, "), }");
	size_t total = (10 + dict.len + 1 + 63) / 64 * 64;
	if (!rc && total - 10 > 65535)
		rc = pt__err(PT_ELIMIT, "entry \"%s\": NPY header too long", e->name);
	if (!rc && !(rc = pt__buf_reserve(out, total))) {
		uint8_t *p = out->data;
		memcpy(p, "\x93NUMPY\x01\x00", 8);
		p[8] = (uint8_t)((total - 10) & 0xff);
		p[9] = (uint8_t)((total - 10) >> 8);
		memcpy(p + 10, dict.data, dict.len);
		memset(p + 10 + dict.len, ' ', total - 10 - dict.len - 1);
		p[total - 1] = '\n';
		out->len = total;
	}
	pt__buf_free(&dict);
	return rc;
}

/* bf16 -> f32: the 16 bits are the high half of the float. */
static int write_bf16_widened(pt_checkpoint_reader *rd, size_t i, const pt_checkpoint_entry *e, int fd, const char *path)
{
	uint8_t *src = pt__malloc(e->size ? e->size : 1);
	uint8_t *dst = src ? pt__malloc(e->size * 2 + 1) : NULL;
	int rc = !src || !dst ? PT_ENOMEM : pt_checkpoint_reader_read(rd, i, src, e->size);
	for (uint64_t k = 0; !rc && k + 1 < e->size; k += 2) {
		dst[2 * k] = 0;
		dst[2 * k + 1] = 0;
		dst[2 * k + 2] = src[k];
		dst[2 * k + 3] = src[k + 1];
	}
	if (!rc)
		rc = pt__write_all(fd, dst, e->size * 2, path);
	pt__free(src);
	pt__free(dst);
	return rc;
}

static char *safe_name(const char *name, const char *ext, char **used, size_t nused)
{
	size_t n = strlen(name) > 200 ? 200 : strlen(name);
	char *base = pt__strndup(name, n);
	if (!base)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = base[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			base[i] = '_';
	}
	if (!n || base[0] == '.') {
		char *b2 = pt__sprintf("_%s", base);
		pt__free(base);
		if (!(base = b2))
			return NULL;
	}
	for (int k = 0;; k++) {
		char *cand = k ? pt__sprintf("%s~%d%s", base, k, ext) : pt__sprintf("%s%s", base, ext);
		if (!cand)
			break;
		bool clash = !strcmp(cand, "index.json") || !strcmp(cand, "state.json");
		for (size_t u = 0; u < nused && !clash; u++)
			clash = !strcmp(used[u], cand);
		if (!clash) {
			pt__free(base);
			return cand;
		}
		pt__free(cand);
	}
	pt__free(base);
	return NULL;
}

static int export_entry(pt_checkpoint_reader *rd, size_t i, const pt_checkpoint_entry *e, const char *path)
{
	char *tmp = pt__sprintf("%s.part", path);
	if (!tmp)
		return PT_ENOMEM;
	int rc = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		rc = pt__err_errno(errno, "cannot create %s", tmp);
		pt__free(tmp);
		return rc;
	}
	if (e->type == PT_ENTRY_TENSOR) {
		pt__buf hdr = {0};
		pt_checkpoint_entry h = *e;
		if (!(rc = npy_header(&hdr, &h)))
			rc = pt__write_all(fd, hdr.data, hdr.len, tmp);
		pt__buf_free(&hdr);
	}
	if (!rc)
		rc = e->type == PT_ENTRY_TENSOR && e->dtype == PT_DTYPE_BF16 ? write_bf16_widened(rd, i, e, fd, tmp)
									    : pt_checkpoint_reader_read_fd(rd, i, fd);
	if (!rc && fsync(fd) < 0)
		rc = pt__err_errno(errno, "cannot fsync %s", tmp);
	if (close(fd) < 0 && !rc)
		rc = pt__err_errno(errno, "cannot close %s", tmp);
	if (!rc && rename(tmp, path) < 0)
		rc = pt__err_errno(errno, "cannot rename %s", tmp);
	if (rc)
		unlink(tmp);
	pt__free(tmp);
	return rc;
}

int pt_checkpoint_export(const pt_store *st, const char *manifest_hex, const char *dir, pt_checkpoint_export_stats *stats)
{
	if (!st || !manifest_hex || !dir)
		return pt__err(PT_EINVAL, "pt_checkpoint_export: NULL argument");
	if (stats)
		memset(stats, 0, sizeof *stats);
	pt_checkpoint_reader *rd = NULL;
	int rc = pt__mkdir_p(dir, 0755);
	if (rc || (rc = pt_checkpoint_reader_open(&rd, st, manifest_hex)))
		return rc;
	size_t n = pt_checkpoint_reader_count(rd);
	char **used = pt__calloc(n ? n : 1, sizeof *used);
	pt__buf index = {0};
	if (!used) {
		rc = PT_ENOMEM;
		goto done;
	}
	rc = pt__buf_printf(&index, "{\"manifest\":\"%s\",\"entries\":[", manifest_hex);
	for (size_t i = 0; !rc && i < n; i++) {
		pt_checkpoint_entry e;
		if ((rc = pt_checkpoint_reader_entry(rd, i, &e)))
			break;
		char *fname = safe_name(e.name, e.type == PT_ENTRY_TENSOR ? ".npy" : "", used, i);
		char *path = fname ? pt__sprintf("%s/%s", dir, fname) : NULL;
		if (!path) {
			pt__free(fname);
			rc = PT_ENOMEM;
			break;
		}
		used[i] = fname;
		rc = export_entry(rd, i, &e, path);
		pt__free(path);
		if (rc) {
			rc = pt__err_wrap(rc, "export of \"%s\"", e.name);
			break;
		}
		if (stats) {
			stats->entries++;
			stats->bytes += e.size;
		}
		rc = pt__buf_printf(&index, "%s{\"name\":", i ? "," : "");
		if (!rc)
			rc = pt__json_string(&index, e.name, strlen(e.name));
		if (!rc)
			rc = pt__buf_printf(&index, ",\"file\":");
		if (!rc)
			rc = pt__json_string(&index, fname, strlen(fname));
		if (!rc)
			rc = pt__buf_printf(&index, ",\"type\":\"%s\"", e.type == PT_ENTRY_TENSOR ? "tensor" : "blob");
		if (!rc && e.type == PT_ENTRY_TENSOR) {
			rc = pt__buf_printf(&index, ",\"dtype\":\"%s\",\"shape\":[", pt_dtype_name(e.dtype));
			for (unsigned k = 0; !rc && k < e.ndim; k++)
				rc = pt__buf_printf(&index, "%s%" PRIu64, k ? "," : "", e.shape[k]);
			if (!rc)
				rc = pt__buf_printf(&index, "]%s", e.dtype == PT_DTYPE_BF16 ? ",\"widened_to\":\"f32\"" : "");
		}
		if (!rc)
			rc = pt__buf_printf(&index, ",\"bytes\":%" PRIu64 "}", e.size);
	}
	if (!rc)
		rc = pt__buf_printf(&index, "]}\n");
	if (!rc) {
		char *ip = pt__sprintf("%s/index.json", dir);
		rc = ip ? pt__atomic_write(ip, index.data, index.len) : PT_ENOMEM;
		pt__free(ip);
	}
done:
	pt_strv_free(used, n);
	pt__buf_free(&index);
	pt_checkpoint_reader_free(rd);
	return rc;
}
