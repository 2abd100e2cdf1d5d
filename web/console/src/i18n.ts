// Chinese first, English on request. Every string a person reads comes
// from here; `t(key)` answers in the chosen language.

export type Lang = "zh" | "en";

const STORAGE_KEY = "gridsync.console.lang";

let current: Lang = (() => {
  try {
    return localStorage.getItem(STORAGE_KEY) === "en" ? "en" : "zh";
  } catch {
    return "zh";
  }
})();

export function lang(): Lang {
  return current;
}

export function setLang(next: Lang): void {
  current = next;
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    /* private mode: the choice lasts for this page */
  }
}

type Pair = readonly [zh: string, en: string];

const TEXT = {
  app_name: ["网格工单调度台", "GridSync console"],
  app_sub: ["网格化服务管理中心", "Grid governance service centre"],
  login_title: ["登录调度台", "Sign in"],
  user: ["用户名", "User name"],
  password: ["密码", "Password"],
  login: ["登录", "Sign in"],
  logging_in: ["正在登录…", "Signing in…"],
  logout: ["退出", "Sign out"],
  bad_credentials: ["用户名或密码不正确，请重试。", "Wrong user name or password; try again."],
  rate_limited: ["失败次数过多，请稍后再试。", "Too many failed attempts; wait a little and try again."],
  login_hint: [
    "还没有密码？请管理员在服务器上运行 gridsync-server user passwd 用户名",
    "No password yet? Ask an admin to run gridsync-server user passwd NAME on the relay.",
  ],
  nav_queues: ["待办", "To do"],
  nav_tickets: ["工单", "Tickets"],
  nav_new: ["新建工单", "New ticket"],
  nav_map: ["地图", "Map"],
  nav_figures: ["统计", "Figures"],
  nav_export: ["导出", "Export"],
  nav_admin: ["系统管理", "Administration"],
  nav_users: ["用户", "Users"],
  nav_grids: ["网格", "Grids"],
  nav_tokens: ["设备令牌", "Device tokens"],
  nav_audit: ["审计日志", "Audit log"],
  live_on: ["实时更新中", "Live"],
  live_off: ["实时连接中断，正在重连…", "Live updates lost; reconnecting…"],
  q_to_accept: ["待立案", "To accept"],
  q_to_dispatch: ["待派遣", "To dispatch"],
  q_to_verify: ["待核查", "To verify"],
  q_due_soon: ["即将超期", "Due soon"],
  q_overdue: ["已超期", "Overdue"],
  q_conflicts: ["冲突", "Conflicts"],
  q_hint_to_accept: ["网格员上报，等待立案或注销", "Reported; accept or mark invalid"],
  q_hint_to_dispatch: ["已立案或被退单，等待派遣", "Accepted or returned; dispatch to a unit"],
  q_hint_to_verify: ["已处置，等待核查", "Handled; verify or send back"],
  q_hint_due_soon: ["处置期限临近", "Deadline approaching"],
  q_hint_overdue: ["超过处置期限仍未办结", "Past the deadline, still open"],
  q_hint_conflicts: ["多台设备离线时同时修改，需人工处理", "Changed on two devices offline; needs a decision"],
  queue_empty: ["这个队列里没有工单。", "Nothing in this queue."],
  queue_shown: ["已显示 {n} 件，共 {total} 件", "Showing {n} of {total}"],
  queue_more: ["再显示 {n} 件", "Show {n} more"],
  col_id: ["编号", "Id"],
  col_title: ["标题", "Title"],
  col_status: ["状态", "Status"],
  col_grid: ["网格", "Grid"],
  col_category: ["类别", "Category"],
  col_urgency: ["紧急程度", "Urgency"],
  col_unit: ["处置单位", "Unit"],
  col_due: ["处置期限", "Due"],
  col_reported: ["上报时间", "Reported"],
  col_updated: ["最近更新", "Updated"],
  col_reporter: ["上报人", "Reported by"],
  urgent: ["紧急", "Urgent"],
  normal: ["一般", "Normal"],
  overdue_tag: ["已超期", "Overdue"],
  conflict_tag: ["冲突", "Conflict"],
  rework_tag: ["返工", "Rework"],
  filter_search: ["搜索标题、编号或类别", "Search title, id or category"],
  filter_status: ["状态", "Status"],
  filter_all: ["全部", "All"],
  filter_open: ["未办结", "Open"],
  filter_grid: ["网格编码", "Grid code"],
  filter_community: ["社区", "Community"],
  filter_street: ["街道", "Street"],
  filter_district: ["区", "District"],
  filter_unit: ["处置单位", "Unit"],
  filter_overdue: ["只看超期", "Overdue only"],
  filter_conflict: ["只看冲突", "Conflicts only"],
  filter_from: ["上报起", "Reported from"],
  filter_to: ["上报止", "Reported to"],
  filter_apply: ["查询", "Search"],
  filter_reset: ["重置", "Reset"],
  sort: ["排序", "Sort"],
  sort_updated: ["最近更新", "Recently updated"],
  sort_reported: ["上报时间", "Reported"],
  sort_due: ["处置期限", "Deadline"],
  page_prev: ["上一页", "Previous"],
  page_next: ["下一页", "Next"],
  page_n: ["第 {n} 页", "Page {n}"],
  loading: ["加载中…", "Loading…"],
  no_tickets: ["没有符合条件的工单。", "No tickets match."],
  new_changes: ["有 {n} 条新变更，点击刷新列表", "{n} new changes; refresh the list"],
  back: ["返回", "Back"],
  ticket_id: ["工单编号", "Ticket id"],
  kind: ["类型", "Kind"],
  source: ["来源", "Source"],
  description: ["问题描述", "Description"],
  location: ["位置", "Location"],
  address: ["地址", "Address"],
  accuracy: ["定位精度", "Accuracy"],
  resident: ["居民联系方式", "Resident"],
  no_location: ["上报时未记录位置。", "No location was recorded."],
  photos: ["照片", "Photos"],
  photos_n: ["照片 {n}", "{n} photos"],
  no_photos: ["暂无照片。", "No photos."],
  phase_before: ["处置前", "Before"],
  phase_after: ["处置后", "After"],
  phase_none: ["无", "none"],
  photo_by: ["{who} 拍摄于 {at}", "by {who}, {at}"],
  photo_open: ["查看大图：{phase}，{who}", "Open the full photo: {phase}, by {who}"],
  photo_not_uploaded: ["未上传", "Not uploaded"],
  photo_not_uploaded_hint: [
    "拍摄设备尚未把照片传到服务器，设备同步后自动显示。",
    "The device that took it has not uploaded it yet; it shows once that device syncs.",
  ],
  photo_close: ["关闭", "Close"],
  photo_prev: ["上一张", "Previous"],
  photo_next: ["下一张", "Next"],
  photo_of: ["第 {i} / {n} 张", "{i} of {n}"],
  verify_compare: ["核查：处置前后对比", "Verify: before and after"],
  verify_compare_hint: [
    "请对比处置前后的照片，再选择「核查通过」或「返工」。",
    "Compare the photos before and after the work, then verify or send it back.",
  ],
  not_nearly_due: [
    "督办仅用于已超期或即将到期（处置时限的最后四分之一）的工单；该工单尚未到此时间，或还没有派遣。",
    "Urging is for an overdue or nearly due ticket (the last quarter of its time limit); this one is not yet, or has not been dispatched.",
  ],
  verify_no_after: ["没有处置后照片。", "No photo after the work."],
  verify_no_before: ["没有处置前照片。", "No photo before the work."],
  after_photos_required: [
    "此类别要求处置后照片，而该工单还没有。请在外勤 App 中拍摄处置后照片，或在设备上运行 gridsync ticket photo add {id} 照片文件 --phase after，同步后再标记「处置完成」。",
    "This category needs a photo after the work and the ticket has none. Take one in the field app, or run gridsync ticket photo add {id} FILE --phase after on the device, sync, then mark it handled.",
  ],
  created: ["上报", "Reported"],
  timeline: ["办理过程", "Timeline"],
  comments: ["备注", "Comments"],
  no_comments: ["暂无备注。", "No comments yet."],
  add_comment: ["添加备注", "Add comment"],
  comment_placeholder: ["写下备注，所有设备同步后都能看到", "Write a comment; every device sees it after syncing"],
  actions: ["可执行操作", "What you can do"],
  no_actions: ["当前状态下你没有可执行的操作。", "Nothing for you to do in this state."],
  read_only: ["只读：复核人员只能查看和导出。", "Read only: reviewers see and export."],
  conflicts_title: ["冲突说明", "Conflicts"],
  conflict_intro: [
    "以下事件是在离线时同时做出的，与当前状态不符，未被采用。两条记录都已保留，没有任何数据被覆盖。请核对后执行下一步操作。",
    "These events were made offline at the same time and no longer fit the ticket's state, so they were not applied. Both are kept; nothing was overwritten. Check them and take the next step.",
  ],
  not_applied: ["未采用", "Not applied"],
  by: ["由", "by"],
  as_role: ["身份", "as"],
  note: ["说明", "Note"],
  note_required: ["说明（必填）", "Note (required)"],
  unit: ["处置单位", "Handling unit"],
  due_at: ["处置期限", "Deadline"],
  due_default: ["留空则按类别时限和工作日历自动计算", "Leave blank: the category's time limit on the working calendar"],
  rating: ["回访满意度", "Callback rating"],
  duplicate_of: ["重复工单编号（选填）", "Duplicate of (optional)"],
  submit: ["确定", "Confirm"],
  cancel: ["取消", "Cancel"],
  working: ["提交中…", "Submitting…"],
  done: ["已完成：{what}", "Done: {what}"],
  map_title: ["工单分布", "Tickets on the map"],
  map_no_tiles: [
    "未配置底图（离线部署）：仅按坐标绘制工单点。可用 gridsync-server serve --map-tiles 配置瓦片地址。",
    "No base map configured (offline): points are drawn on their coordinates. Set one with gridsync-server serve --map-tiles.",
  ],
  map_count: ["{n} 个工单有位置", "{n} tickets with a location"],
  map_gcj: ["底图为 GCJ-02 坐标，已从 WGS-84 转换", "Tiles are GCJ-02; points converted from WGS-84"],
  map_open: ["打开工单", "Open ticket"],
  figures_title: ["考核统计", "District review figures"],
  on_time_rate: ["按期结案率", "On-time closure rate"],
  satisfaction_rate: ["满意率", "Satisfaction rate"],
  closure_rate: ["结案率", "Closure rate"],
  reported_n: ["上报数", "Reported"],
  closed_n: ["结案数", "Closed"],
  overdue_open_n: ["超期未结", "Overdue, open"],
  by_street: ["按街道", "By street"],
  by_community: ["按社区", "By community"],
  by_grid: ["按网格", "By grid"],
  by_unit: ["按处置单位", "By handling unit"],
  tickets_n: ["工单数", "Tickets"],
  extensions_approved_n: ["延期批准", "Extensions approved"],
  urged_n: ["督办次数", "Urged"],
  weekly_trend: ["近 {n} 周趋势", "Last {n} weeks"],
  trend_reported: ["上报数", "Reported"],
  trend_closed: ["结案数", "Closed"],
  trend_on_time: ["按期结案率", "On-time rate"],
  period: ["统计期间", "Period"],
  export_title: ["导出考核数据", "Export review data"],
  export_format: ["格式", "Format"],
  export_table: ["CSV 表", "CSV table"],
  export_all_tables: ["全部表（zip）", "All tables (zip)"],
  export_lang: ["表头语言", "Header language"],
  export_personal: ["包含居民姓名和电话（仅管理员）", "Include residents' names and phones (admins only)"],
  export_go: ["下载", "Download"],
  export_hint: [
    "按期结案率扣除挂账工单；期限按工作日历计算。时间为 ISO 8601（+08:00）。",
    "On-time rates exclude suspended tickets; deadlines count working time. Times are ISO 8601 (+08:00).",
  ],
  admin_users: ["用户", "Users"],
  admin_grids: ["网格", "Grids"],
  admin_tokens: ["设备令牌", "Device tokens"],
  admin_audit: ["审计日志", "Audit log"],
  name: ["名称", "Name"],
  role: ["角色", "Role"],
  scope: ["范围", "Scope"],
  created_at: ["创建时间", "Created"],
  code: ["编码", "Code"],
  community: ["社区", "Community"],
  street: ["街道", "Street"],
  district: ["区", "District"],
  label: ["设备", "Device"],
  issued_at: ["签发时间", "Issued"],
  revoked_at: ["吊销时间", "Revoked"],
  state: ["状态", "State"],
  active: ["有效", "Active"],
  revoked: ["已吊销", "Revoked"],
  at: ["时间", "At"],
  action: ["动作", "Action"],
  doc: ["文档", "Document"],
  reason: ["原因", "Reason"],
  addr: ["地址", "Address"],
  changes: ["变更数", "Changes"],
  count: ["次数", "Count"],
  peer: ["设备标识", "Peer"],
  issue_token: ["为新设备签发令牌", "Issue a token for a new device"],
  device_label: ["设备名称", "Device name"],
  token_shown_once: ["令牌只显示这一次，请立即在设备上登录：", "Shown once; log the device in now:"],
  new_ticket_title: ["新建工单（12345 转办 / 上级交办）", "New ticket (12345 transfer, assigned from above)"],
  title: ["标题", "Title"],
  category: ["类别编码", "Category code"],
  urgency: ["紧急程度", "Urgency"],
  lat: ["纬度", "Latitude"],
  lon: ["经度", "Longitude"],
  create: ["创建", "Create"],
  forbidden: ["你的角色不能执行此操作。", "Your role may not do this."],
  not_found: ["找不到这个工单，或它不在你的范围内。", "No such ticket in your scope."],
  error: ["出错了", "Something went wrong"],
  retry: ["重试", "Retry"],
  yes: ["是", "yes"],
  no: ["否", "no"],
  total: ["合计", "Total"],
  none: ["—", "—"],
  visits: ["走访明细", "Visits"],
} as const satisfies Record<string, Pair>;

export type Key = keyof typeof TEXT;

export function t(key: Key, vars?: Record<string, string | number>): string {
  let text: string = TEXT[key][current === "zh" ? 0 : 1];
  if (vars) {
    for (const [name, value] of Object.entries(vars)) text = text.replace(`{${name}}`, String(value));
  }
  return text;
}

function pick(table: Record<string, Pair>, code: string | null | undefined): string {
  if (!code) return t("none");
  const pair = table[code];
  return pair ? pair[current === "zh" ? 0 : 1] : code;
}

const STATUS: Record<string, Pair> = {
  reported: ["已上报", "Reported"],
  accepted: ["已立案", "Accepted"],
  invalid: ["已注销", "Invalid"],
  dispatched: ["已派遣", "Dispatched"],
  acknowledged: ["已签收", "Acknowledged"],
  returned: ["已退单", "Returned"],
  in_progress: ["处置中", "In progress"],
  handled: ["已处置", "Handled"],
  verified: ["已核查", "Verified"],
  closed: ["已结案", "Closed"],
  suspended: ["已挂账", "Suspended"],
};

/** What a person presses: the verb. */
const ACTION: Record<string, Pair> = {
  reported: ["上报", "Report"],
  accepted: ["立案", "Accept"],
  invalid: ["注销", "Mark invalid"],
  dispatched: ["派遣", "Dispatch"],
  acknowledged: ["签收", "Acknowledge"],
  returned: ["退单", "Return"],
  in_progress: ["开始处置", "Start work"],
  handled: ["处置完成", "Mark handled"],
  verified: ["核查通过", "Verify"],
  rework: ["返工", "Send back for rework"],
  closed: ["结案", "Close"],
  reopened: ["重新打开", "Reopen"],
  suspended: ["挂账", "Suspend"],
  resumed: ["恢复办理", "Resume"],
  rated: ["回访评价", "Record callback"],
  urged: ["督办", "Urge"],
  extension_requested: ["延期申请", "Ask for more time"],
  extension_approved: ["批准延期", "Approve the extension"],
  extension_refused: ["驳回延期", "Refuse the extension"],
};

const ROLE: Record<string, Pair> = {
  worker: ["网格员", "Grid worker"],
  supervisor: ["调度员", "Supervisor"],
  unit: ["处置单位", "Handling unit"],
  reviewer: ["复核人员", "Reviewer"],
  admin: ["管理员", "Admin"],
};

const RATING: Record<string, Pair> = {
  satisfied: ["满意", "Satisfied"],
  basic: ["基本满意", "Basically satisfied"],
  dissatisfied: ["不满意", "Dissatisfied"],
};

const KIND: Record<string, Pair> = {
  component: ["部件", "Component"],
  event: ["事件", "Event"],
  livelihood: ["民生诉求", "Livelihood request"],
  dispute: ["矛盾纠纷", "Dispute"],
};

const SOURCE: Record<string, Pair> = {
  patrol: ["巡查上报", "Patrol"],
  resident: ["居民诉求", "Resident request"],
  hotline: ["12345转办", "12345 hotline"],
  assigned: ["上级交办", "Assigned from above"],
};

const AUDIT_ACTION: Record<string, Pair> = {
  change: ["写入", "Change"],
  refused: ["拒绝写入", "Refused"],
  denied: ["拒绝读取", "Denied"],
  auth_failed: ["认证失败", "Authentication failed"],
  login: ["登录", "Login"],
  token_issued: ["签发令牌", "Token issued"],
  revoked: ["令牌吊销断开", "Closed: token revoked"],
};

export const STATUSES = Object.keys(STATUS);
export const RATINGS = Object.keys(RATING);
export const KINDS = Object.keys(KIND);
export const SOURCES = Object.keys(SOURCE);

export const statusLabel = (code: string | null | undefined) => pick(STATUS, code);
export const actionLabel = (code: string | null | undefined) => pick(ACTION, code);
export const roleLabel = (code: string | null | undefined) => pick(ROLE, code);
export const ratingLabel = (code: string | null | undefined) => pick(RATING, code);
export const kindLabel = (code: string | null | undefined) => pick(KIND, code);
export const sourceLabel = (code: string | null | undefined) => pick(SOURCE, code);
export const auditActionLabel = (code: string | null | undefined) => pick(AUDIT_ACTION, code);

/** A scope as the registry serialises it (`{kind, value}`) in words. */
export function scopeLabel(scope: unknown): string {
  if (typeof scope === "string") return scope;
  if (scope && typeof scope === "object") {
    const { kind, value } = scope as { kind?: string; value?: unknown };
    const names: Record<string, Pair> = {
      grids: ["网格", "grids"],
      community: ["社区", "community"],
      street: ["街道", "street"],
      district: ["区", "district"],
      all: ["全部", "everything"],
    };
    const name = kind ? pick(names, kind) : "";
    const shown = Array.isArray(value) ? value.join("、") : value == null ? "" : String(value);
    return shown ? `${name} ${shown}` : name;
  }
  return t("none");
}

/** Why the fold did not apply an event, in words. */
export function conflictReason(reason: unknown): string {
  if (typeof reason === "string") return reason;
  if (!reason || typeof reason !== "object") return t("none");
  const r = reason as Record<string, unknown>;
  const st = (v: unknown) => (v == null ? (current === "zh" ? "新建" : "new") : statusLabel(String(v)));
  const zh = current === "zh";
  switch (r.kind) {
    case "concurrent":
      return zh
        ? `该事件是在工单为「${st(r.expected)}」时做出的，但工单当时已是「${st(r.actual)}」（另一台设备同时做了修改）`
        : `made while the ticket was ${st(r.expected)}, but it was already ${st(r.actual)} (changed concurrently on another device)`;
    case "wrong_state":
      return zh ? `工单为「${st(r.actual)}」时不能执行此操作` : `not allowed while the ticket is ${st(r.actual)}`;
    case "forbidden_role":
      return zh ? `${roleLabel(String(r.role))}无权执行此操作` : `a ${roleLabel(String(r.role))} may not do this`;
    case "handler_verifies":
      return zh ? `${String(r.actor)} 处置了该工单，不能同时核查` : `${String(r.actor)} handled it and may not verify it too`;
    case "missing_field":
      return zh ? `缺少字段 ${String(r.field)}` : `missing ${String(r.field)}`;
    case "unreadable":
      return zh ? `无法读取的事件：${String(r.detail)}` : `unreadable event: ${String(r.detail)}`;
    default:
      return JSON.stringify(reason);
  }
}
