/* abi.c - sizes of the public structs, so that bindings can check their mirrors. */
#include "base/base_int.h"

size_t pt_abi_struct_size(const char *name)
{
	static const struct {
		const char *name;
		size_t size;
	} sizes[] = {
		{"pt_recorder_options", sizeof(pt_recorder_options)},
		{"pt_iter_options", sizeof(pt_iter_options)},
		{"pt_stream_info", sizeof(pt_stream_info)},
		{"pt_problem", sizeof(pt_problem)},
		{"pt_verify_stats", sizeof(pt_verify_stats)},
		{"pt_point", sizeof(pt_point)},
		{"pt_replay_options", sizeof(pt_replay_options)},
		{"pt_checkpoint_entry", sizeof(pt_checkpoint_entry)},
		{"pt_checkpoint_export_stats", sizeof(pt_checkpoint_export_stats)},
		{"pt_code_options", sizeof(pt_code_options)},
		{"pt_checkpoint_options", sizeof(pt_checkpoint_options)},
		{"pt_checkpoint_info", sizeof(pt_checkpoint_info)},
		{"pt_checkpoint_status", sizeof(pt_checkpoint_status)},
		{"pt_gc_options", sizeof(pt_gc_options)},
		{"pt_gc_stats", sizeof(pt_gc_stats)},
		{"pt_artifact_info", sizeof(pt_artifact_info)},
		{"pt_report_options", sizeof(pt_report_options)},
		{"pt_ui_options", sizeof(pt_ui_options)},
		{"pt_consumer_options", sizeof(pt_consumer_options)},
		{"pt_consumer_event", sizeof(pt_consumer_event)},
		{"pt_consumer_counts", sizeof(pt_consumer_counts)},
		{"pt_consumer_position", sizeof(pt_consumer_position)},
		{"pt_consumer_info", sizeof(pt_consumer_info)},
		{"pt_mirror_options", sizeof(pt_mirror_options)},
		{"pt_mirror_stats", sizeof(pt_mirror_stats)},
	};
	for (size_t i = 0; name && i < sizeof sizes / sizeof *sizes; i++)
		if (!strcmp(sizes[i].name, name))
			return sizes[i].size;
	return 0;
}
