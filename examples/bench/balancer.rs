//! Section 10, beyond one machine (docs/scaling.md): two read-only servidores, each over
//! its own copy of the folder, behind HAProxy in TCP mode, beside one servidor reached
//! directly. All of it on this machine's loopback: the figures say what the balancer
//! costs and that the course's framing crosses it unchanged, not what two machines gain.

use super::*;

impl Bench {
    pub fn balancer(&mut self, haproxy_bin: &str) -> Result<()> {
        // The second instance's folder: a copy of the first, as rsync leaves it.
        let copy = self.scratch.dir("archivos-copia").map_err(|e| e.to_string())?;
        for entry in std::fs::read_dir(&self.archivos).map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name();
            // Plain files only: a writable servidor left its hidden staging folder here.
            if entry.file_type().map_err(|e| e.to_string())?.is_file()
                && !name.to_string_lossy().starts_with('.')
            {
                std::fs::copy(entry.path(), copy.join(&name)).map_err(|e| e.to_string())?;
            }
        }
        setup::warm_cache(&copy.join(BIG_NAME)).map_err(|e| e.to_string())?;
        let a = self.servidor_with(&self.archivos.clone(), &["--read-only"])?;
        let b = self.servidor_with(&copy, &["--read-only"])?;
        let lb = match setup::Haproxy::start(haproxy_bin, &self.scratch.root, &[a.addr, b.addr], false) {
            Ok(lb) => lb,
            Err(e) => {
                self.push("10", "through HAProxy", "skipped".into(), e);
                self.rows.last_mut().expect("pushed").verdict = Verdict::Skipped;
                return Ok(());
            }
        };
        setup::wait_settled(&self.archivos);
        setup::wait_settled(&copy);

        // The course's client and protocol 2 read their replies through it, and a write
        // comes back refused: both instances are read-only.
        check_listar(lb.addr)?;
        check_listar_v2(lb.addr)?;
        let subir = Data::dict([
            ("nombre", Data::str("nuevo.txt")),
            ("contenido", Data::Bytes(b"hola".to_vec())),
        ]);
        let frame = fetch(lb.addr, &request("subir", subir))?;
        let reply = message::parse_reply(&frame[4..], Limits::default()).map_err(|e| e.detail)?;
        if reply.is_ok() {
            return Err(format!("a read-only instance accepted subir: {reply:?}"));
        }
        // Ten clients through the balancer: where did they land? (Counted once the
        // connections above are closed on the servers' side too.)
        std::thread::sleep(Duration::from_millis(200));
        let (fa, fb) = (a.fd_count(), b.fd_count());
        let mut conns = load::connect(lb.addr, 10).map_err(|e| e.to_string())?;
        let mut scratch = vec![0u8; 64 * 1024];
        for c in conns.iter_mut() {
            load::round_trip(c, &request("listar", Data::None), &mut scratch).map_err(|e| e.to_string())?;
        }
        // servidor may not have accepted the last one yet when its reply came back.
        std::thread::sleep(Duration::from_millis(200));
        let spread = (a.fd_count().saturating_sub(fa), b.fd_count().saturating_sub(fb));
        drop(conns);
        self.push(
            "10",
            "through HAProxy: listar, protocol 2's listar, subir",
            "decoded as direct; subir refused".into(),
            format!(
                "HAProxy {}; 10 clients landed {} / {} on the two instances; refusal {:?}",
                lb.version, spread.0, spread.1, reply.data
            ),
        );

        // Downloads: the balancer relays every byte, the single servidor sends them by
        // sendfile. Pairs alternate so that outside load hits both alike. Beside each, the
        // CPU time per GB of the process that moved the bytes: servidor directly, HAProxy
        // through it (what sizes a balancer machine).
        self.balanced_downloads(&a, &lb, "")?;
        // Round trips from 8 connections: what the extra hop adds to a small request.
        let plan = |addr| Plan {
            addr,
            request: request("listar", Data::None),
            reply: Reply::Framed,
            conns: 8,
            threads: 1,
            stop: self.budget.round_trip,
            expect_len: None,
        };
        let (mut direct, mut via) = (Vec::new(), Vec::new());
        for _ in 0..self.budget.round_trip_reps {
            direct.push(checked(load::run(&plan(a.addr)))?);
            via.push(checked(load::run(&plan(lb.addr)))?);
        }
        let ratio =
            |f: &dyn Fn(&Outcome) -> f64| median(direct.iter().zip(&via).map(|(d, v)| f(v) / f(d)).collect());
        let (rates, p50s) = (
            ratio(&|o| o.per_sec()),
            ratio(&|o| o.percentile(0.5).as_secs_f64()),
        );
        let (d, v) = (
            median_outcome(direct).ok_or("no direct run")?,
            median_outcome(via).ok_or("no run through HAProxy")?,
        );
        self.push(
            "10",
            "listar round trips/s, 8 connections, through HAProxy",
            rate(v.per_sec()),
            format!("{} direct", rate(d.per_sec())),
        );
        self.rows.last_mut().expect("pushed").ratio = Some(rates);
        self.push(
            "10",
            "listar p50 / p99, 8 connections, through HAProxy",
            format!(
                "{} / {}",
                duration(v.percentile(0.5)),
                duration(v.percentile(0.99))
            ),
            format!(
                "{} / {} direct",
                duration(d.percentile(0.5)),
                duration(d.percentile(0.99))
            ),
        );
        self.rows.last_mut().expect("pushed").ratio = Some(p50s);
        drop(lb);

        // The same downloads with HAProxy moving bytes by splice(2) (`option splice-auto`).
        let lb = setup::Haproxy::start(haproxy_bin, &self.scratch.root, &[a.addr, b.addr], true)?;
        self.balanced_downloads(&a, &lb, ", option splice-auto")?;
        warn_if_logged(&a);
        warn_if_logged(&b);
        Ok(())
    }

    /// 1 and 4 downloads at once, directly from `a` and through `lb`, in pairs; one row each.
    fn balanced_downloads(&mut self, a: &Servidor, lb: &setup::Haproxy, label: &str) -> Result<()> {
        for streams in [1, 4] {
            let (mut direct, mut via, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            let (mut cpu_direct, mut cpu_lb) = (Duration::ZERO, Duration::ZERO);
            for _ in 0..self.budget.download_reps {
                let before = setup::cpu_time(a.pid());
                let d = self.download_once(a.addr, streams)?;
                cpu_direct += setup::cpu_time(a.pid()).saturating_sub(before);
                let before = setup::cpu_time(lb.pid());
                let v = self.download_once(lb.addr, streams)?;
                cpu_lb += setup::cpu_time(lb.pid()).saturating_sub(before);
                direct.push(d);
                via.push(v);
                ratios.push(v / d);
            }
            let gb = (self.budget.download_reps * streams) as f64 * BIG_SIZE as f64 / 1e9;
            let what = if streams == 1 {
                format!("one 256 MiB download through HAProxy{label}")
            } else {
                format!("{streams} × 256 MiB downloads at once through HAProxy{label}")
            };
            self.push(
                "10",
                what,
                format!(
                    "{}; HAProxy CPU {:.2} s/GB",
                    gbps(median(via)),
                    cpu_lb.as_secs_f64() / gb
                ),
                format!(
                    "{} direct; servidor CPU {:.2} s/GB",
                    gbps(median(direct)),
                    cpu_direct.as_secs_f64() / gb
                ),
            );
            self.rows.last_mut().expect("pushed").ratio = Some(median(ratios));
        }
        Ok(())
    }
}
