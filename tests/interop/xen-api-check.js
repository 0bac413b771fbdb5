// xen-api-check.js - xm-pool driven by Vates' xen-api, the JavaScript
// XenAPI connector of Xen Orchestra, as Xen Orchestra drives a pool.
//
// Run by tests/pool/api-interop-js.sh (node, from the build directory
// where npm installed the pinned packages): without an argument steps 1
// to 4 below, with "succeed" step 5.  It reads PT_TMP/interop-in.json
// (the pool's refs and what python3's xmlrpc.client got from every
// get_all_records just before), prints TAP lines numbered after PT_N and
// hands the count and the failures back in PT_TMP/tap.state, as
// pool_client.Tap does.  A check marked todo prints "# TODO reason": the
// daemon lacks what the library needs there (the reason says what).
//
// Everything the checks see of the pool comes from the library's object
// cache, which only its own event loop (event.inject, X.get_all_records,
// event.from) fills: no check polls a record.  Waits are on the cache's
// state or on a host's fault point, each bounded by a timeout that fails
// the check and says what was awaited.

import fs from 'node:fs'
import path from 'node:path'
import { createClient } from 'xen-api'
import { CancelToken, Cancel } from 'promise-toolbox'

const env = process.env
const tmp = env.PT_TMP
const input = JSON.parse(fs.readFileSync(path.join(tmp, 'interop-in.json')))

class Tap {
    constructor() {
        this.n = Number(env.PT_N ?? 0)
        this.failed = 0
    }

    // ok(cond, name, diag lines, todo reason or undefined)
    ok(cond, name, diag = [], todo = undefined) {
        this.n += 1
        const mark = todo === undefined ? '' : ' # TODO ' + todo
        console.log(`${cond ? 'ok' : 'not ok'} ${this.n} - ${name}${mark}`)
        if (!cond) {
            if (todo === undefined)
                this.failed += 1
            for (const d of diag)
                console.log('#   ' + String(d).replace(/\n/g, '\n#   '))
        }
        return cond
    }

    is(got, want, name, todo = undefined) {
        const g = JSON.stringify(got), w = JSON.stringify(want)
        return this.ok(g === w, name, [`got  ${g}`, `want ${w}`], todo)
    }

    done() {
        fs.writeFileSync(path.join(tmp, 'tap.state'),
                         `${this.n} ${this.failed}\n`)
    }
}

const t = new Tap()

// A promise that fails after ms, naming what it waited for.
function within(promise, ms, what) {
    let timer
    const timeout = new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(
            `timed out after ${ms / 1000} s waiting for ${what}`)), ms)
    })
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// Resolves with pred()'s value once it is true, looked at now and after
// each batch of changes the cache flushes ('finish'); fails after ms.
function until(xapi, what, ms, pred) {
    let listener
    const p = new Promise(resolve => {
        listener = () => {
            const v = pred()
            if (v)
                resolve(v)
        }
        xapi.objects.on('finish', listener)
        listener()
    })
    return within(p, ms, what).finally(() =>
        xapi.objects.removeListener('finish', listener))
}

// Resolves once pred() is true, looked at every 50 ms: for the library's
// state that no cache event announces; fails after ms.
function look(what, ms, pred) {
    return within(new Promise(resolve => {
        const again = () => pred() ? resolve() : setTimeout(again, 50)
        again()
    }), ms, what)
}

// Fault points of host n, as lib.sh pt_arm/pt_hit/pt_go make them.
function faultDir(n) {
    return path.join(tmp, `h${n}`, 'faults')
}

function arm(n, spec) {
    for (const f of fs.readdirSync(faultDir(n)))
        if (f.endsWith('.hit') || f.endsWith('.go'))
            fs.unlinkSync(path.join(faultDir(n), f))
    fs.writeFileSync(path.join(tmp, `h${n}`, 'fault'), spec + '\n')
}

function hit(n, point, ms) {
    const f = path.join(faultDir(n), point + '.hit')
    return look(`host ${n} to hold at ${point}`, ms, () => fs.existsSync(f))
}

function go(n, point) {
    fs.writeFileSync(path.join(faultDir(n), point + '.go'), '')
}

function why(e) {
    return e?.code ? `${e.code}(${(e.params ?? []).join(', ')})` : String(e)
}

// The cache, by class: {ref: {uuid, name_label, fields}} as the shell's
// python3 wrote the pool's get_all_records.
function cacheByClass(xapi) {
    const out = {}
    for (const o of Object.values(xapi.objects.all)) {
        const c = (out[o.$type] ??= {})
        c[o.$ref] = {
            uuid: o.uuid ?? null,
            name_label: o.name_label ?? null,
            fields: Object.keys(o).sort(),
        }
    }
    return out
}

function sameRecords(got, want) {
    const diag = []
    for (const ref of new Set([...Object.keys(got), ...Object.keys(want)])) {
        const g = JSON.stringify(got[ref]), w = JSON.stringify(want[ref])
        if (g !== w)
            diag.push(`${ref}: cache ${g}`, `${' '.repeat(ref.length)}  ` +
                      `xmlrpc.client ${w}`)
    }
    return diag
}

async function main() {
    const url = `https://127.0.0.2:${env.PT_PORT}`
    const auth = { user: 'root', password: env.XM_POOL_ROOT_PASSWORD }
    const { vm, h2, h3 } = input
    const xapi = createClient({ url, auth, allowUnauthorized: true })
    let events = []

    // What the cache's change events say of the VM and of the tasks, in
    // the order they came (a removal gives the $id only).
    for (const action of ['add', 'update'])
        xapi.objects.on(action, items => {
            for (const o of Object.values(items))
                if (o.$type === 'task' || o.$ref === vm)
                    events.push({ action, type: o.$type, ref: o.$ref,
                                  status: o.status,
                                  resident_on: o.resident_on })
        })
    xapi.objects.on('remove', items => {
        for (const id of Object.keys(items))
            events.push({ action: 'remove', id })
    })

    // 1. session.login_with_password, pool.get_all_records and
    // system.listMethods, over JSON-RPC (the library's first transport).
    try {
        await within(xapi.connect(), 30e3, 'xapi.connect()')
        t.ok(xapi.status === 'connected' &&
             /^OpaqueRef:/.test(xapi.sessionId),
             'xen-api connects and logs in over JSON-RPC',
             [`status ${xapi.status}`])
    } catch (e) {
        t.ok(false, 'xen-api connects and logs in over JSON-RPC', [why(e)])
        return
    }
    t.is(xapi.pool?.$ref, input.pool, '  its pool is the pool\'s one')

    // The same with the library's XML-RPC transport (XAPI's older one).
    const xml = createClient({ url, auth, allowUnauthorized: true,
                               transport: 'xml-rpc', watchEvents: false })
    try {
        await within(xml.connect(), 30e3, 'xapi.connect() over XML-RPC')
        const hosts = await xml.call('host.get_all')
        t.is(hosts.sort(), [h2, h3].sort(),
             'its XML-RPC transport logs in and calls too')
    } catch (e) {
        t.ok(false, 'its XML-RPC transport logs in and calls too', [why(e)])
    }
    await xml.disconnect().catch(() => {})

    // 2. The object cache: event.inject, then every X.get_all_records
    // of the classes system.listMethods has.
    try {
        await within(xapi.objectsFetched, 60e3, 'xapi.objectsFetched')
        t.ok(true, 'the object cache is filled (event.inject, ' +
             'get_all_records of the classes system.listMethods gives)')
    } catch (e) {
        t.ok(false, 'the object cache is filled (event.inject, ' +
             'get_all_records of the classes system.listMethods gives)',
             [why(e)])
        return
    }
    const cache = cacheByClass(xapi)
    for (const [cls, want] of Object.entries(input.expected)) {
        const got = cache[cls] ?? {}
        const diag = sameRecords(got, want)
        t.ok(diag.length === 0, `  it holds the pool's ${cls} objects ` +
             `(${Object.keys(want).length}) as xmlrpc.client sees them`,
             diag)
    }
    t.is(Object.keys(cache).filter(c => !(c in input.expected)), [],
         '  and no object of another class')

    // 3. Async.VM.pool_migrate from host 2 to host 3, followed through the
    // cache alone.
    events = []
    let task
    t.is(xapi.getObjectByRef(vm, {}).resident_on, h2,
         'the cached VM is resident on host 2 first')
    try {
        task = await xapi.call('Async.VM.pool_migrate', vm, h3,
                               { live: 'true' })
        await until(xapi, 'the VM resident on host 3 in the cache', 120e3,
                    () => xapi.getObjectByRef(vm, {}).resident_on === h3)
        t.ok(true, 'Async.VM.pool_migrate: resident_on goes to host 3 ' +
             'through the library\'s events')
    } catch (e) {
        t.ok(false, 'Async.VM.pool_migrate: resident_on goes to host 3 ' +
             'through the library\'s events', [why(e), JSON.stringify(events)])
        return
    }
    t.ok(events.some(e => e.type === 'task' && e.ref === task &&
                     e.action === 'add'),
         '  the task object appears in the cache', [JSON.stringify(events)])
    try {
        await until(xapi, 'the task to end in the cache', 120e3, () =>
            !['pending', 'cancelling'].includes(
                xapi.getObjectByRef(task, {}).status))
        t.is(xapi.getObjectByRef(task).status, 'success',
             '  and it ends in success')
    } catch (e) {
        t.ok(false, '  and it ends in success', [why(e)])
    }
    // The library's Xapi#watchTask (what callAsync waits on) reads the
    // task's result as XAPI writes it, an XML-RPC <value>.
    try {
        await within(xapi.watchTask(task), 10e3, 'watchTask')
        t.ok(true, '  watchTask(task) resolves with its result')
    } catch (e) {
        t.ok(false, '  watchTask(task) resolves with its result',
             [why(e), `result ${xapi.getObjectByRef(task, {}).result}`])
    }

    // 4. callAsync('VM.pool_migrate') back to host 2, cancelled with the
    // library's cancel token (it calls task.cancel) while the master holds
    // at pd.master.prepared, before it has told the source anything: a
    // cancel seen there ends the task cancelled, every time.
    events = []
    arm(2, 'pd.master.prepared=wait')
    const before = new Set(Object.values(xapi.objects.all)
        .filter(o => o.$type === 'task').map(o => o.$ref))
    const { cancel, token } = CancelToken.source()
    const pending = xapi.callAsync(token, 'VM.pool_migrate', vm, h2,
                                   { live: 'true' })
    const outcome = pending.then(v => ({ value: v }), e => ({ error: e }))
    let ctask
    try {
        await hit(2, 'pd.master.prepared', 120e3)
        ctask = (await until(xapi, 'the new task in the cache', 30e3, () =>
            Object.values(xapi.objects.all).find(o => o.$type === 'task' &&
                                                 !before.has(o.$ref))))
            .$ref
        cancel()
        await until(xapi, 'the task cancelling in the cache', 30e3, () =>
            xapi.getObjectByRef(ctask, {}).status === 'cancelling')
        t.ok(true, 'the cancel token\'s task.cancel: the task is ' +
             'cancelling in the cache')
    } catch (e) {
        t.ok(false, 'the cancel token\'s task.cancel: the task is ' +
             'cancelling in the cache', [why(e), JSON.stringify(events)])
    }
    go(2, 'pd.master.prepared')
    const r = await within(outcome, 120e3, 'callAsync to settle')
        .catch(e => ({ error: e, timeout: true }))
    arm(2, '')
    t.ok(r.error instanceof Cancel, '  callAsync rejects with Cancel',
         [r.timeout ? why(r.error) : JSON.stringify(r.error ?? r.value)])
    if (ctask) {
        t.is(xapi.getObjectByRef(ctask, {}).status, 'cancelled',
             '  the task ends cancelled in the cache')
    } else {
        t.ok(false, '  the task ends cancelled in the cache', ['no task'])
    }
    const v = xapi.getObjectByRef(vm, {})
    t.is([v.power_state, v.resident_on], ['Running', h3],
         '  the cached VM is still Running on host 3')

    // callAsync destroys its task once settled (task.destroy): the task
    // then leaves the cache.
    try {
        await until(xapi, 'the task to leave the cache', 30e3, () =>
            ctask !== undefined &&
            xapi.getObjectByRef(ctask, undefined) === undefined)
        t.ok(true, '  callAsync\'s task.destroy: the task leaves the cache')
    } catch (e) {
        t.ok(false, '  callAsync\'s task.destroy: the task leaves the cache',
             [why(e), JSON.stringify(events)])
    }
    await xapi.disconnect()
}

// 5. callAsync('VM.pool_migrate') back to host 2 that succeeds, as Xen
// Orchestra makes every long call.  A second client, on its own, watches
// the same pool: the checks wait on its cache's state, never on the first.
async function succeed() {
    const url = `https://127.0.0.2:${env.PT_PORT}`
    const auth = { user: 'root', password: env.XM_POOL_ROOT_PASSWORD }
    const { vm, h2 } = input
    const watcher = createClient({ url, auth, allowUnauthorized: true })
    const xapi = createClient({ url, auth, allowUnauthorized: true })

    await within(Promise.all([watcher.connect(), xapi.connect()]), 30e3,
                 'xapi.connect()')
    await within(Promise.all([watcher.objectsFetched, xapi.objectsFetched]),
                 60e3, 'xapi.objectsFetched')
    const before = new Set(Object.values(watcher.objects.all)
        .filter(o => o.$type === 'task').map(o => o.$ref))
    // The master holds before it tells the source anything until the
    // caller watches the task (Xapi#watchTask's entry, read in the
    // library's own state): the task cannot end before that.
    arm(2, 'pd.master.prepared=wait')
    const pending = xapi.callAsync('VM.pool_migrate', vm, h2,
                                   { live: 'true' })
    const outcome = pending.then(v => ({ value: v }), e => ({ error: e }))
    try {
        await hit(2, 'pd.master.prepared', 120e3)
        await look('the caller to watch its task', 30e3, () =>
            Object.keys(xapi._taskWatchers ?? {}).some(r => !before.has(r)))
    } finally {
        go(2, 'pd.master.prepared')
    }
    try {
        await until(watcher, 'the VM on host 2 and its task in success',
                    120e3, () =>
            watcher.getObjectByRef(vm, {}).resident_on === h2 &&
            Object.values(watcher.objects.all).some(o =>
                o.$type === 'task' && !before.has(o.$ref) &&
                o.status === 'success'))
        t.ok(true, 'callAsync(\'VM.pool_migrate\') to host 2: the task ' +
             'succeeds, the VM is on host 2 (a second client\'s cache)')
    } catch (e) {
        t.ok(false, 'callAsync(\'VM.pool_migrate\') to host 2: the task ' +
             'succeeds, the VM is on host 2 (a second client\'s cache)',
             [why(e)])
        return
    }
    // Now that the pool has ended it, the caller's promise and cache follow
    // within one event.from round (a 200 ms debounce); 20 s is generous.
    const r = await within(outcome, 20e3, 'callAsync to settle')
        .catch(e => ({ error: e, timeout: true }))
    arm(2, '')
    t.ok(r.value !== undefined, '  callAsync resolves with the task\'s ' +
         'result', [why(r.error)])
    try {
        await until(xapi, 'the caller\'s cache to say host 2', 20e3, () =>
            xapi.getObjectByRef(vm, {}).resident_on === h2)
        t.ok(true, '  the caller\'s event loop goes on (its cache says ' +
             'host 2)')
    } catch (e) {
        t.ok(false, '  the caller\'s event loop goes on (its cache says ' +
             'host 2)', [why(e)])
    }
    await Promise.all([watcher.disconnect(), xapi.disconnect()])
}

let rc = 0
try {
    if (process.argv[2] === 'succeed')
        await succeed()
    else
        await main()
} catch (e) {
    console.log('# ' + String(e?.stack ?? e).replace(/\n/g, '\n# '))
    rc = 1
}
t.done()
// The library's event loop would keep node running.
process.exit(rc)
