using System.Globalization;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Bulk;

internal sealed record BulkAccountResult(Guid AccountId, string? Email, int Rows, decimal Credits, long CreditsMicros);

internal sealed record BulkResult(int RowsApplied, decimal TotalCredits, long TotalCreditsMicros, IReadOnlyList<BulkAccountResult> Accounts);

/// <summary>
/// Adjustments from a CSV file (<c>email,credits,reason</c> or <c>accountId,credits,reason</c>): every row is checked
/// first, and only a file without a mistake is applied, all of it in one transaction.
/// </summary>
internal sealed class BulkCredits(AppDbContext db, Ledger ledger, AuditLog audit, ILookupNormalizer normalizer)
{
    public const int MaxRows = 10_000;

    /// <summary>A file says at most this many of its mistakes; the rest would only bury the first ones.</summary>
    const int MaxReportedErrors = 200;

    sealed record Row(int Line, Guid? AccountId, string? Email, long Micros, string Reason)
    {
        public Guid Account => AccountId ?? throw new InvalidOperationException("The row's account is not resolved.");
    }

    /// <remarks>
    /// The rows' ledger keys derive from <paramref name="idempotencyKey"/> and the row's position, so the same key again
    /// finds the first batch and returns its result without reading the file again.
    /// </remarks>
    public async Task<BulkResult> ApplyAsync(string csv, string idempotencyKey, Guid actorId, CancellationToken ct)
    {
        var prefix = Prefix(idempotencyKey, actorId);
        if (await db.Set<CreditEntry>().AnyAsync(e => e.IdempotencyKey == prefix + "1", ct))
            return await ResultAsync(prefix, ct);
        var rows = await ValidateAsync(csv, ct);
        foreach (var userId in rows.Where(r => r.Email is not null).Select(r => r.Account).Distinct())
            await ledger.OpenAsync(CreditOwner.User, userId, null, ct);
        var postings = rows.Select((row, i) => new Posting(row.Account, CreditKind.Adjustment, row.Micros, row.Reason, actorId,
            prefix + (i + 1).ToString(CultureInfo.InvariantCulture))).ToList();
        // A concurrent request with the same key that got there first is found by the first row's key: its result is ours.
        await ledger.PostAllAsync(postings, ct, (_, _) =>
        {
            audit.Add(AuditKinds.CreditsBulkAdjusted, null, new
            {
                rows = rows.Count,
                totalMicros = rows.Sum(r => r.Micros),
                accounts = rows.Select(r => r.Account).Distinct().Count(),
                reasons = rows.Select(r => r.Reason).Distinct().Take(10).ToList(),
                batch = prefix,
            }, actorId);
            return Task.CompletedTask;
        });
        return await ResultAsync(prefix, ct);
    }

    /// <remarks>Keys are the admin's own: two admins who both send "batch-1" make two batches.</remarks>
    static string Prefix(string idempotencyKey, Guid actorId) =>
        // Hashed so that any key makes ledger keys of one length that no other batch's key can be a prefix of.
        "bulk:" + IdempotencyKeys.Digest($"{actorId:N}:{idempotencyKey}") + ":";

    /// <summary>The column of each field: exactly one of <see cref="Email"/> and <see cref="AccountId"/> is there.</summary>
    sealed record Columns(int Email, int AccountId, int Credits, int Reason);

    /// <summary>What an account has free and holds, as the rows before the current one leave it.</summary>
    sealed record Funds(Dictionary<Guid, long> Available, Dictionary<Guid, long> Balances);

    /// <summary>The mistakes of a file, each under its line and column; only the first ones are kept.</summary>
    sealed class FileMistakes
    {
        readonly Dictionary<string, string[]> errors = [];

        public bool Any => errors.Count > 0;

        public void Add(int line, string? column, string message)
        {
            if (errors.Count < MaxReportedErrors)
                errors.TryAdd(column is null ? $"line {line}" : $"line {line}, column {column}", [message]);
        }

        public ProblemException ToProblem() => Mistakes(errors);
    }

    async Task<List<Row>> ValidateAsync(string csv, CancellationToken ct)
    {
        var (columns, records) = ReadRecords(csv);
        var mistakes = new FileMistakes();
        var rows = records.Select(record => ReadRow(record, columns, mistakes)).OfType<Row>().ToList();
        var (resolved, funds) = await ResolveAccountsAsync(rows, mistakes, ct);
        CheckOverdraws(resolved, funds, mistakes);
        if (mistakes.Any)
            throw mistakes.ToProblem();
        return resolved;
    }

    /// <summary>The file's data records after a header that names the columns; a file that cannot be read at all stops here.</summary>
    static (Columns Columns, List<CsvRecord> Records) ReadRecords(string csv)
    {
        List<CsvRecord> records;
        try
        {
            records = Csv.Parse(csv);
        }
        catch (CsvFormatException e)
        {
            throw Mistake($"line {e.Line}", e.Message);
        }
        if (records.Count == 0)
            throw Mistake("line 1", "The file is empty; its first line is the header email,credits,reason.");
        if (records.Count - 1 > MaxRows)
            throw Mistake("file", $"At most {MaxRows:N0} rows at once; this file has {records.Count - 1:N0}. Split it.");

        var header = records[0].Fields.Select(f => f.Trim().ToLowerInvariant()).ToList();
        var columns = new Columns(header.IndexOf("email"), header.IndexOf("accountid"), header.IndexOf("credits"), header.IndexOf("reason"));
        if ((columns.Email < 0) == (columns.AccountId < 0) || columns.Credits < 0 || columns.Reason < 0 || header.Count != 3)
            throw Mistake($"line {records[0].Line}", $"The header is email,credits,reason (or accountId instead of email); it is {string.Join(',', records[0].Fields)}.");
        if (records.Count == 1)
            throw Mistake($"line {records[0].Line}", "The file has a header and no rows.");
        return (columns, records[1..]);
    }

    /// <summary>One record as a row, or null with its mistakes added: who it names, the amount and the reason, each checked on its own.</summary>
    static Row? ReadRow(CsvRecord record, Columns columns, FileMistakes mistakes)
    {
        if (record.Fields.Count != 3)
        {
            mistakes.Add(record.Line, null, $"Expected 3 fields, found {record.Fields.Count}.");
            return null;
        }
        var ok = true;
        Guid? id = null;
        string? address = null;
        if (columns.Email >= 0)
        {
            address = record.Fields[columns.Email].Trim();
            if (!Accounts.IsEmail(address))
                ok = Reject("email", $"'{address}' is not an email address.");
        }
        else if (Guid.TryParse(record.Fields[columns.AccountId].Trim(), out var parsed))
        {
            id = parsed;
        }
        else
        {
            ok = Reject("accountId", $"'{record.Fields[columns.AccountId]}' is not an account id.");
        }
        var micros = ReadMicros(record.Fields[columns.Credits].Trim(), out var creditsProblem);
        if (creditsProblem is not null)
            ok = Reject("credits", creditsProblem);
        var why = record.Fields[columns.Reason].Trim();
        if (why.Length is 0 or > CreditReasons.MaxLength)
            ok = Reject("reason", CreditReasons.Rule);
        return ok ? new Row(record.Line, id, address, micros, why) : null;

        bool Reject(string column, string message)
        {
            mistakes.Add(record.Line, column, message);
            return false;
        }
    }

    /// <summary>Who each row is for: emails name users, ids name existing accounts; with what each account has now.</summary>
    async Task<(List<Row> Resolved, Funds Funds)> ResolveAccountsAsync(List<Row> rows, FileMistakes mistakes, CancellationToken ct)
    {
        var wanted = rows.Where(r => r.Email is not null).Select(r => normalizer.NormalizeEmail(r.Email)!).Distinct().ToList();
        var users = new Dictionary<string, Guid>(StringComparer.Ordinal);
        foreach (var chunk in wanted.Chunk(500))
            foreach (var user in await db.Users.AsNoTracking().Where(u => chunk.Contains(u.NormalizedEmail!)).Select(u => new { u.Id, u.NormalizedEmail }).ToListAsync(ct))
                users[user.NormalizedEmail!] = user.Id;
        var ids = rows.Where(r => r.AccountId is not null).Select(r => r.AccountId!.Value).Distinct().ToList();
        var funds = new Funds([], []);
        foreach (var chunk in ids.Concat(users.Values).Distinct().Chunk(500))
            foreach (var a in await db.Set<CreditAccount>().AsNoTracking().Where(a => chunk.Contains(a.Id)).Select(a => new { a.Id, a.Balance, a.Reserved }).ToListAsync(ct))
            {
                funds.Available[a.Id] = a.Balance - a.Reserved;
                funds.Balances[a.Id] = a.Balance;
            }
        var resolved = new List<Row>();
        foreach (var row in rows)
        {
            if (row.Email is not null)
            {
                if (!users.TryGetValue(normalizer.NormalizeEmail(row.Email)!, out var userId))
                {
                    mistakes.Add(row.Line, "email", $"No user has the email {row.Email}.");
                    continue;
                }
                // A user's account has the user's id; it is opened, empty, if it is not there yet.
                resolved.Add(row with { AccountId = userId });
                funds.Available.TryAdd(userId, 0);
                funds.Balances.TryAdd(userId, 0);
            }
            else if (!funds.Available.ContainsKey(row.AccountId!.Value))
            {
                mistakes.Add(row.Line, "accountId", $"There is no credit account {row.AccountId}.");
            }
            else
            {
                resolved.Add(row);
            }
        }
        return (resolved, funds);
    }

    /// <remarks>Rows apply in file order: one that takes more than is free by then would be refused by the ledger.</remarks>
    static void CheckOverdraws(List<Row> resolved, Funds funds, FileMistakes mistakes)
    {
        foreach (var row in resolved)
        {
            var after = funds.Available[row.Account] + row.Micros;
            var balance = funds.Balances[row.Account] + row.Micros;
            if (after < 0)
                mistakes.Add(row.Line, "credits", $"Takes {Micros.Format(-row.Micros)} credits but only {Micros.Format(funds.Available[row.Account])} are available then.");
            else if (balance > CreditLimits.MaxBalanceMicros)
                mistakes.Add(row.Line, "credits", $"{CreditLimits.BalanceRule} This row would bring the account to {Micros.Format(balance)}.");
            funds.Available[row.Account] = after;
            funds.Balances[row.Account] = balance;
        }
    }

    static long ReadMicros(string text, out string? problem)
    {
        problem = null;
        if (!decimal.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var credits))
        {
            problem = $"'{text}' is not a number.";
            return 0;
        }
        problem = Micros.Read(credits, MicrosSign.NotZero, Micros.MaxEntry, out var micros) switch
        {
            MicrosReading.Exact => null,
            MicrosReading.TooLarge => Micros.EntryRule,
            MicrosReading.TooFine => $"'{text}' has more than 6 decimals.",
            _ => "A row moves a non-zero amount (negative takes credits away).",
        };
        return micros;
    }

    static ProblemException Mistake(string where, string message) => Mistakes(new Dictionary<string, string[]> { [where] = [message] });

    static ProblemException Mistakes(Dictionary<string, string[]> errors) =>
        new(StatusCodes.Status400BadRequest, "The file has mistakes; nothing was applied.",
            errors.Count >= MaxReportedErrors
                ? $"The first {MaxReportedErrors} mistakes are listed under their line and column; fix them and send the file again to see the rest."
                : $"{errors.Count} {(errors.Count == 1 ? "mistake" : "mistakes")}: each is listed under its line and column.",
            ProblemTypes.Validation)
        {
            Errors = errors,
        };

    /// <summary>What a batch did, read back from its ledger entries: the first answer and every retry's are the same.</summary>
    async Task<BulkResult> ResultAsync(string prefix, CancellationToken ct)
    {
        var entries = await db.Set<CreditEntry>().AsNoTracking().Where(e => e.IdempotencyKey.StartsWith(prefix))
            .Select(e => new { e.AccountId, e.Amount, e.IdempotencyKey }).ToListAsync(ct);
        var ordered = entries.OrderBy(e => int.Parse(e.IdempotencyKey.AsSpan(prefix.Length), CultureInfo.InvariantCulture)).ToList();
        var accountIds = ordered.Select(e => e.AccountId).Distinct().ToList();
        var emails = new Dictionary<Guid, string?>();
        foreach (var chunk in accountIds.Chunk(500))
            foreach (var a in await db.Set<CreditAccount>().AsNoTracking().Where(a => chunk.Contains(a.Id))
                         .Select(a => new { a.Id, Email = db.Users.Where(u => u.Id == a.UserId).Select(u => u.Email).FirstOrDefault() }).ToListAsync(ct))
                emails[a.Id] = a.Email;
        var byAccount = ordered.GroupBy(e => e.AccountId).ToDictionary(g => g.Key, g => (Rows: g.Count(), Sum: g.Sum(e => e.Amount)));
        var accounts = accountIds.Select(id =>
        {
            var (rows, sum) = byAccount[id];
            return new BulkAccountResult(id, emails.GetValueOrDefault(id), rows, Micros.ToCredits(sum), sum);
        }).ToList();
        var total = ordered.Sum(e => e.Amount);
        return new BulkResult(ordered.Count, Micros.ToCredits(total), total, accounts);
    }
}
