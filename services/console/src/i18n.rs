//! The console's words in Chinese (the default) and English. Templates read them as `t.key`.

use std::collections::BTreeMap;

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 中文 (default).
    Zh,
    /// English.
    En,
}

/// The language cookie's name.
pub const COOKIE: &str = "city_console_lang";

impl Lang {
    /// From the cookie value; Chinese unless it says `en`.
    pub fn from_code(code: Option<&str>) -> Self {
        if code == Some("en") {
            Self::En
        } else {
            Self::Zh
        }
    }

    /// `zh-CN` or `en`, for `<html lang>`.
    pub fn html(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// `zh` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }

    /// Every word of the console in this language.
    pub fn words(self) -> BTreeMap<&'static str, &'static str> {
        WORDS.iter().map(|(k, zh, en)| (*k, if self == Self::Zh { *zh } else { *en })).collect()
    }
}

/// The one refusal of every failed sign-in, the same answer the API gives in substance.
pub fn refusal(lang: Lang) -> &'static str {
    lang.words()["refused"]
}

const WORDS: &[(&str, &str, &str)] = &[
    ("title", "市民服务 · 工单台", "City Services · Clerks' console"),
    ("skip", "跳到主要内容", "Skip to main content"),
    ("sign_in", "登录", "Sign in"),
    ("sign_out", "退出", "Sign out"),
    ("username", "用户名", "Username"),
    ("password", "密码", "Password"),
    (
        "refused",
        "用户名或密码错误，或账户已被锁定：请联系管理员",
        "wrong username or password, or the account is locked: ask your administrator",
    ),
    ("signed_out", "您已退出。", "You have signed out."),
    ("expired", "会话已结束，请重新登录。", "Your session has ended; please sign in again."),
    ("csrf", "表单已过期或无效，请重试。", "This form has expired or is not valid; please try again."),
    ("queue", "工单", "Tickets"),
    ("conversations", "会话", "Conversations"),
    ("announcements", "公告", "Announcements"),
    ("role", "角色", "Role"),
    ("scope", "范围", "Scope"),
    ("all_city", "全市", "whole city"),
    ("filters", "筛选", "Filters"),
    ("state", "状态", "State"),
    ("category", "类别", "Category"),
    ("district", "区县", "District"),
    ("any", "全部", "Any"),
    ("mine", "分配给我", "Assigned to me"),
    ("overdue", "已超时", "Overdue"),
    ("held", "待审核文字", "Held text awaiting moderation"),
    ("search", "搜索", "Search"),
    ("search_hint", "编号或文字", "Reference number or text"),
    ("sort", "排序", "Sort"),
    ("sort_due", "最早到期", "Due soonest"),
    ("sort_new", "最新提交", "Newest"),
    ("sort_updated", "最近更新", "Recently updated"),
    ("apply", "应用", "Apply"),
    ("clear", "清除", "Clear"),
    ("export", "导出 CSV", "Export CSV"),
    ("n_tickets", "张工单", "tickets"),
    ("counts", "数量", "Counts"),
    ("all", "全部", "All"),
    ("reference", "编号", "Reference"),
    ("created", "提交时间", "Created"),
    ("due", "到期", "Due"),
    ("assignee", "处理人", "Assignee"),
    ("nobody", "未分配", "Unassigned"),
    ("description", "描述", "Description"),
    ("address", "地址", "Address"),
    ("none", "没有符合条件的工单。", "No tickets match."),
    ("prev", "上一页", "Previous"),
    ("next", "下一页", "Next"),
    ("page", "页", "Page"),
    ("new_tickets", "有新的工单，列表已更新。", "New tickets arrived; the list was updated."),
    ("map", "地图", "Map"),
    (
        "map_hint",
        "点击图钉打开工单；灰色图钉不在您的范围内。",
        "Click a pin to open its ticket; grey pins are outside your scope.",
    ),
    ("ticket", "工单", "Ticket"),
    ("back", "返回工单列表", "Back to the tickets"),
    ("photos", "照片", "Photos"),
    ("reporter", "报告人", "Reporter"),
    ("anonymous", "匿名", "anonymous"),
    ("history", "处理记录", "History"),
    ("public", "公开", "public"),
    ("internal", "内部", "internal"),
    ("sla", "时限", "SLA"),
    ("left", "剩余", "left"),
    ("late_by", "已超时", "late by"),
    ("hours", "小时", "hours"),
    ("moderation", "文字审核", "Text moderation"),
    ("mod_pass", "已通过", "passed"),
    ("mod_review", "被拦截，待人工审核", "held for review"),
    ("mod_pending", "尚未检查", "not yet checked"),
    ("approve", "批准公开", "Approve"),
    ("reject", "拒绝", "Reject"),
    ("actions", "操作", "Actions"),
    ("change_state", "更改状态", "Change state"),
    ("new_state", "新状态", "New state"),
    ("template", "回复模板", "Response template"),
    ("no_template", "不用模板", "No template"),
    ("public_update", "公开回复（报告人会收到）", "Public update (the reporter is told)"),
    ("internal_note", "内部备注", "Internal note"),
    (
        "update_photo",
        "随公开回复附照片（可选，如整改后照片）",
        "Photo with the public update (optional, e.g. after the fix)",
    ),
    ("update_photo_alt", "处理人员拍摄的照片", "Photo taken by the crew"),
    ("save", "保存", "Save"),
    ("assign", "分配", "Assign"),
    ("assign_to", "分配给", "Assign to"),
    ("me", "我自己", "Me"),
    ("unassign", "取消分配", "Unassign"),
    ("note", "备注或公开回复", "Note or public update"),
    ("text", "内容", "Text"),
    ("make_public", "公开给报告人", "Public (tell the reporter)"),
    ("add", "添加", "Add"),
    ("merge", "合并重复工单", "Merge into a duplicate"),
    ("merge_into", "合并到", "Merge into"),
    ("nearby", "附近同类工单", "Nearby tickets of this category"),
    ("no_nearby", "附近没有同类的未结工单。", "No open ticket of this category nearby."),
    ("metres", "米", "m"),
    ("reroute", "改派", "Reroute"),
    ("agency", "责任单位", "Agency"),
    ("agency_hint", "留空则按规则", "Empty: by the routing rule"),
    (
        "conflict",
        "其他人已修改此工单，您的更改未保存。",
        "Someone else changed this ticket; your change was not saved.",
    ),
    ("reload", "重新加载工单", "Reload the ticket"),
    ("done", "已保存。", "Saved."),
    ("not_found", "没有这张工单，或它不在您的范围内。", "No such ticket, or it is outside your scope."),
    ("failed", "未能完成：", "Could not do that: "),
    ("unavailable", "服务暂时不可用，请稍后重试。", "The service is unavailable; try again shortly."),
    ("language", "English", "中文"),
    ("overdue_badge", "超时", "overdue"),
    ("held_badge", "待审核", "held"),
    ("open_ticket", "打开工单", "Open ticket"),
    ("location", "位置", "Location"),
    ("channel", "来源", "Channel"),
    ("followers", "关注人数", "Followers"),
    ("duplicate_of", "重复于", "Duplicate of"),
    ("change_pw", "修改密码", "Change password"),
    (
        "pw_forced",
        "您的密码是管理员设置的临时密码，请先设置自己的密码。",
        "Your password is a temporary one an administrator set; choose your own first.",
    ),
    ("pw_current", "当前密码", "Current password"),
    ("pw_new", "新密码（至少 10 个字符）", "New password (at least 10 characters)"),
    ("pw_repeat", "再次输入新密码", "New password again"),
    ("pw_mismatch", "两次输入的新密码不一致。", "The two new passwords differ."),
    ("pw_wrong", "当前密码不正确。", "The current password is not right."),
    (
        "pw_rule",
        "新密码至少 10 个字符，且不能与当前密码相同。",
        "The new password needs at least 10 characters and must differ from the current one.",
    ),
    ("st_open", "待处理", "Open"),
    ("st_confirmed", "已确认", "Confirmed"),
    ("st_investigating", "调查中", "Investigating"),
    ("st_action_scheduled", "已安排处理", "Action scheduled"),
    ("st_in_progress", "处理中", "In progress"),
    ("st_fixed", "已修复", "Fixed"),
    ("st_closed", "已关闭", "Closed"),
    ("st_duplicate", "重复", "Duplicate"),
    ("st_not_responsible", "非本单位职责", "Not our responsibility"),
    ("st_no_further_action", "无需进一步处理", "No further action"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_both_languages_say_something() {
        let mut seen = std::collections::BTreeSet::new();
        for (k, zh, en) in WORDS {
            assert!(seen.insert(*k), "{k} twice");
            assert!(!zh.is_empty() && !en.is_empty(), "{k}");
        }
    }

    #[test]
    fn chinese_is_the_default() {
        assert_eq!(Lang::from_code(None), Lang::Zh);
        assert_eq!(Lang::from_code(Some("fr")), Lang::Zh);
        assert_eq!(Lang::from_code(Some("en")), Lang::En);
        assert!(refusal(Lang::En).contains("ask your administrator"));
    }
}
