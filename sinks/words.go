package sinks

// words returns the Summary sheet's and the table's labels in lang ("en"
// or "zh"), by key: JSON keys for the figures, other keys for headings,
// column titles, outcomes and result meanings. A key without a
// translation is shown as itself.
func words(lang string) func(key string) string {
	en := map[string]string{
		"title":          "cardbatch billing summary",
		"subtitle":       "Counted over every attempt of this run, resumed attempts included.",
		"run":            "Run",
		"input":          "Input file",
		"run_start":      "Started",
		"run_end":        "Finished",
		"not_finished":   "not finished",
		"attempt_count":  "Attempts",
		"calls":          "Calls",
		"rows_h":         "Rows",
		"cost":           "Cost",
		"price":          "Price per charged call",
		"estimated_cost": "Estimated cost",
		"cost_note":      "charged calls × price; in-doubt calls not included",
		"by_result":      "Answers by result code",
		"by_http_status": "Answers by HTTP status",
		"by_status":      "Rows by status",
		"attempts":       "Attempts",
		"by_bank":        "Top issuing banks",
		"by_card_type":   "Rows by card type",
		"code":           "Result code",
		"meaning":        "Meaning",
		"count":          "Answers",
		"billing":        "Billing",
		"http_status":    "HTTP status",
		"status":         "Status",
		"bank":           "Issuing bank",
		"card_type":      "Card type",
		"row_count":      "Rows",
		"none":           "(none)",

		"rows":                 "Rows read",
		"api_calls":            "Calls sent",
		"charged_calls":        "Charged calls",
		"free_calls":           "Free calls",
		"in_doubt":             "Calls in doubt",
		"unknown_result_calls": "Undocumented answers",
		"done":                 "Rows answered",
		"invalid":              "Invalid card numbers",
		"duplicates":           "Repeated card numbers",
		"cache_hits":           "Answered from the cache",
		"failed":               "Rows without an answer",
		"skipped":              "Rows not sent (run stopped)",

		"attempt": "Attempt", "started_at": "Started", "finished_at": "Finished",
		"a_api_calls": "Calls", "a_charged": "Charged", "a_free": "Free", "a_in_doubt": "In doubt",
		"outcome": "Outcome", "a_by_result": "Answers by code",

		"finished": "finished", "failed_rows": "finished, some rows failed", "fatal": "stopped by an error",
		"interrupted": "interrupted", "budget": "stopped at --max-charged", "killed": "killed (resumed later)",
		"running": "running",

		"m0": "query successful", "m-1": "no information found", "m-2": "verification center busy",
		"m-3": "card does not exist", "m?": "undocumented result code",
		"charged": "charged", "free": "free", "unknown": "unknown, counted as charged",
	}
	zh := map[string]string{
		"table_title":    "计费汇总",
		"price_note":     "每次计费调用",
		"top_of":         "%s（前 %d 名，共 %d）",
		"title":          "cardbatch 计费汇总",
		"subtitle":       "统计本次任务的全部运行（含续跑）。",
		"run":            "任务",
		"input":          "输入文件",
		"run_start":      "开始时间",
		"run_end":        "结束时间",
		"not_finished":   "未结束",
		"attempt_count":  "运行次数",
		"calls":          "调用",
		"rows_h":         "行",
		"cost":           "费用",
		"price":          "单次计费价格",
		"estimated_cost": "预估费用",
		"cost_note":      "计费调用数 × 单价；不含结果不明的调用",
		"by_result":      "按结果码统计",
		"by_http_status": "按 HTTP 状态统计",
		"by_status":      "按行状态统计",
		"attempts":       "运行记录",
		"by_bank":        "发卡行排名",
		"by_card_type":   "按卡类型统计",
		"code":           "结果码",
		"meaning":        "含义",
		"count":          "应答数",
		"billing":        "计费",
		"http_status":    "HTTP 状态",
		"status":         "状态",
		"bank":           "发卡行",
		"card_type":      "卡类型",
		"row_count":      "行数",
		"none":           "（无）",

		"rows":                 "读取行数",
		"api_calls":            "发送调用数",
		"charged_calls":        "计费调用数",
		"free_calls":           "免费调用数",
		"in_doubt":             "结果不明的调用",
		"unknown_result_calls": "未列明结果码的应答",
		"done":                 "已有结果的行",
		"invalid":              "无效卡号",
		"duplicates":           "重复卡号",
		"cache_hits":           "来自缓存",
		"failed":               "无结果的行",
		"skipped":              "未发送的行（任务中止）",

		"attempt": "次序", "started_at": "开始", "finished_at": "结束",
		"a_api_calls": "调用", "a_charged": "计费", "a_free": "免费", "a_in_doubt": "不明",
		"outcome": "结果", "a_by_result": "按结果码",

		"finished": "完成", "failed_rows": "完成，部分行失败", "fatal": "因错误停止",
		"interrupted": "被中断", "budget": "达到 --max-charged 上限", "killed": "被终止（已续跑）",
		"running": "运行中",

		"m0": "查询成功", "m-1": "无信息", "m-2": "验证中心繁忙",
		"m-3": "卡号不存在", "m?": "未列明的结果码",
		"charged": "计费", "free": "免费", "unknown": "未知，按计费统计",
	}
	m := en
	if lang == "zh" {
		m = zh
	}
	return func(key string) string {
		if w, ok := m[key]; ok {
			return w
		}
		return key
	}
}
