// The console's shell: who is logged in, the navigation their role gets,
// the language toggle, and which page the address names.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "leaflet/dist/leaflet.css";
import "./style.css";
import { currentUser, logout, whenUnauthorized } from "./api";
import { lang, roleLabel, scopeLabel, setLang, t, type Key } from "./i18n";
import { startLive, stopLive, useLiveState } from "./live";
import { navigate, useRoute } from "./router";
import type { Me, Role } from "./types";
import { ErrorBox, Link, Loading } from "./ui";
import { LoginPage } from "./pages/login";
import { QueuesPage } from "./pages/queues";
import { TicketsPage } from "./pages/tickets";
import { TicketPage } from "./pages/ticket";
import { NewTicketPage } from "./pages/new-ticket";
import { MapPage } from "./pages/map";
import { FiguresPage } from "./pages/figures";
import { ExportPage } from "./pages/export";
import { AdminPage, type AdminSection } from "./pages/admin";

interface NavItem {
  to: string;
  label: Key;
  roles: Role[];
}

const ALL: Role[] = ["worker", "supervisor", "unit", "reviewer", "admin"];
const DESK: Role[] = ["supervisor", "admin"];
const READERS: Role[] = ["supervisor", "reviewer", "admin"];

const NAV: NavItem[] = [
  { to: "/", label: "nav_queues", roles: DESK },
  { to: "/tickets", label: "nav_tickets", roles: ALL },
  { to: "/new", label: "nav_new", roles: DESK },
  { to: "/map", label: "nav_map", roles: READERS },
  { to: "/figures", label: "nav_figures", roles: READERS },
  { to: "/export", label: "nav_export", roles: READERS },
];

const ADMIN_NAV: { to: string; label: Key; section: AdminSection }[] = [
  { to: "/admin/users", label: "nav_users", section: "users" },
  { to: "/admin/grids", label: "nav_grids", section: "grids" },
  { to: "/admin/tokens", label: "nav_tokens", section: "tokens" },
  { to: "/admin/audit", label: "nav_audit", section: "audit" },
];

/** Where a role lands after logging in. */
function home(role: Role): string {
  if (DESK.includes(role)) return "/";
  if (role === "reviewer") return "/figures";
  return "/tickets";
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [, setLangTick] = useState(0);
  const route = useRoute();

  const check = () => {
    setError(null);
    currentUser().then(setMe, setError);
  };
  useEffect(() => {
    setLang(lang());
    whenUnauthorized(() => setMe(null));
    check();
  }, []);
  useEffect(() => {
    if (me) startLive();
    else stopLive();
  }, [me]);

  const toggleLang = () => {
    setLang(lang() === "zh" ? "en" : "zh");
    setLangTick((n) => n + 1);
  };

  if (error) return <ErrorBox error={error} retry={check} />;
  if (me === undefined) return <Loading />;
  if (me === null) {
    return (
      <LoginPage
        onLogin={(who) => {
          setMe(who);
          if (route.path === "/login" || route.path === "/") navigate(home(who.role), true);
        }}
        toggleLang={toggleLang}
      />
    );
  }

  const signOut = async () => {
    try {
      await logout();
    } finally {
      setMe(null);
      navigate("/", true);
    }
  };

  return (
    <div class="shell">
      <aside class="sidebar">
        <div class="brand">
          <div class="brand-name">{t("app_name")}</div>
          <div class="brand-sub">{t("app_sub")}</div>
        </div>
        <nav>
          {NAV.filter((n) => n.roles.includes(me.role)).map((n) => (
            <Link key={n.to} to={n.to} class={isActive(route.path, n.to) ? "nav-item active" : "nav-item"}>
              {t(n.label)}
            </Link>
          ))}
          {me.role === "admin" && (
            <>
              <div class="nav-group">{t("nav_admin")}</div>
              {ADMIN_NAV.map((n) => (
                <Link key={n.to} to={n.to} class={isActive(route.path, n.to) ? "nav-item active" : "nav-item"}>
                  {t(n.label)}
                </Link>
              ))}
            </>
          )}
        </nav>
      </aside>
      <div class="main">
        <header class="topbar">
          <LiveIndicator />
          <div class="who">
            <span class="who-name">{me.user}</span>
            <span class="who-role">{roleLabel(me.role)}</span>
            <span class="who-scope">{scopeLabel(me.scope)}</span>
          </div>
          <button class="btn btn-ghost" onClick={toggleLang} title="中文 / English">
            {lang() === "zh" ? "English" : "中文"}
          </button>
          <button class="btn btn-ghost" onClick={signOut}>
            {t("logout")}
          </button>
        </header>
        <main class="content">
          <Page me={me} path={route.path} query={route.query} />
        </main>
      </div>
    </div>
  );
}

function isActive(path: string, to: string): boolean {
  if (to === "/") return path === "/";
  return path === to || path.startsWith(`${to}/`);
}

function LiveIndicator() {
  const live = useLiveState();
  return (
    <div class={live ? "live live-on" : "live live-off"} data-live={live ? "on" : "off"}>
      <span class="live-dot" />
      {live ? t("live_on") : t("live_off")}
    </div>
  );
}

function Page({ me, path, query }: { me: Me; path: string; query: URLSearchParams }) {
  if (path === "/" || path === "/login") {
    return DESK.includes(me.role) ? <QueuesPage me={me} query={query} /> : <TicketsPage me={me} query={query} />;
  }
  if (path === "/tickets") return <TicketsPage me={me} query={query} />;
  const ticket = /^\/tickets\/([^/]+)$/.exec(path);
  if (ticket) {
    // Keyed by ticket, like the admin sections: one ticket's page never
    // shows another's fields or actions while it loads.
    const id = decodeURIComponent(ticket[1]!);
    return <TicketPage key={id} me={me} id={id} />;
  }
  if (path === "/new") return <NewTicketPage me={me} />;
  if (path === "/map") return <MapPage me={me} />;
  if (path === "/figures") return <FiguresPage me={me} />;
  if (path === "/export") return <ExportPage me={me} />;
  const admin = ADMIN_NAV.find((n) => n.to === path);
  // Keyed by section: each section's rows have their own columns, so the
  // last section's rows must not show under the next one's headings while
  // it loads.
  if (admin) return <AdminPage key={admin.section} me={me} section={admin.section} />;
  return <ErrorBox error={new Error(`${path}: 页面不存在 / no such page`)} />;
}

render(<App />, document.getElementById("app")!);
