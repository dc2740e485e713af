/*
 * log/run_meta.c - what a run says about itself: tags, notes and how a
 * session ended (provtrace/run.h).  The owner of the `tag`, `note` and
 * `run_end` bodies (docs/FORMAT.md, "Built-in bodies"); runs/summary.c reads
 * them back for status, tags.KEY and note.
 */
#include "provtrace/run.h"
#include "provtrace/recorder.h"

#include "base/base_int.h"

#define TAG_KEY_MAX 128
#define TAG_VALUE_MAX 4096
#define NOTE_MAX (64u * 1024u)

int pt_tag_key_check(const char *key)
{
	if (!key || !*key)
		return pt__err(PT_EINVAL, "a tag key is 1-%d characters from [A-Za-z0-9_.:/-], not empty", TAG_KEY_MAX);
	size_t n = strlen(key);
	if (n > TAG_KEY_MAX)
		return pt__err(PT_EINVAL, "tag key \"%.40s...\" is longer than %d characters", key, TAG_KEY_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = key[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == ':' || c == '/' || c == '-'))
			return pt__err(PT_EINVAL, "tag key \"%s\": character %zu is not one of [A-Za-z0-9_.:/-]", key, i + 1);
	}
	return 0;
}

static int append_one(pt_recorder *rec, const char *kind, const char *name, const char *k1, const char *v1,
		      const char *k2, const char *v2, const char *k3, const char *v3)
{
	pt_event *ev = NULL;
	int rc = pt_event_new(&ev, kind, name);
	if (!rc && k1 && v1)
		rc = pt_event_str(ev, k1, v1);
	if (!rc && k2 && v2)
		rc = pt_event_str(ev, k2, v2);
	if (!rc && k3 && v3)
		rc = pt_event_str(ev, k3, v3);
	if (!rc)
		rc = pt_recorder_append(rec, ev, NULL);
	pt_event_free(ev);
	return rc;
}

int pt_recorder_tag(pt_recorder *rec, const char *key, const char *value)
{
	if (!rec || !value)
		return pt__err(PT_EINVAL, "pt_recorder_tag: NULL argument");
	int rc = pt_tag_key_check(key);
	if (rc)
		return rc;
	if (strlen(value) > TAG_VALUE_MAX)
		return pt__err(PT_EINVAL, "tag %s: the value is longer than %d bytes", key, TAG_VALUE_MAX);
	return append_one(rec, "tag", key, "value", value, NULL, NULL, NULL, NULL);
}

int pt_recorder_note(pt_recorder *rec, const char *text)
{
	if (!rec || !text)
		return pt__err(PT_EINVAL, "pt_recorder_note: NULL argument");
	if (strlen(text) > NOTE_MAX)
		return pt__err(PT_EINVAL, "a note is at most %u bytes", NOTE_MAX);
	return append_one(rec, "note", NULL, "text", text, NULL, NULL, NULL, NULL);
}

int pt_recorder_end(pt_recorder *rec, const char *status, const char *error_type, const char *error)
{
	if (!rec || !status)
		return pt__err(PT_EINVAL, "pt_recorder_end: NULL argument");
	bool failed = !strcmp(status, "failed");
	if (!failed && strcmp(status, "finished"))
		return pt__err(PT_EINVAL, "pt_recorder_end: status must be \"finished\" or \"failed\", not \"%.40s\"", status);
	if (!failed && (error_type || error))
		return pt__err(PT_EINVAL, "pt_recorder_end: an error belongs to a \"failed\" end");
	if (error && strlen(error) > NOTE_MAX)
		return pt__err(PT_EINVAL, "pt_recorder_end: the error message is longer than %u bytes", NOTE_MAX);
	if (error_type && strlen(error_type) > TAG_VALUE_MAX)
		return pt__err(PT_EINVAL, "pt_recorder_end: the error type is longer than %d bytes", TAG_VALUE_MAX);
	return append_one(rec, "run_end", NULL, "status", status, "error_type", error_type, "error", error);
}
